//! The kdump handover of kdump.md on smmu-model, with DMA running through the crash.
//!
//! Kernel 1 sets up devices (stage-1 and stage-2 paging side by side, identity, blocked)
//! and starts DMA; it is forgotten without teardown (a crash); the kdump kernel probes on the same
//! model and memory. Expected values come from kdump.md: which StreamIDs are deferred
//! (§10: V = 1 and Config ≠ ABORT), which registers an adopt-mode reset may write (§7),
//! which IDs are reserved (§6), where the first DMA map lands (§11, §12).

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::reg::{
    CR0, CR1, CR2, EVENTQ_BASE, GBPA, IRQ_CTRL, PRIQ_BASE, STRTAB_BASE, STRTAB_BASE_CFG,
};
use common::reg32;
use common::{Core, core, device, small};
use iommu_core::{DeviceDesc, DeviceId, DomainKind, Iova, PhysAddr, Prot, StreamId};
use smmu_testbed::smmu_model::{
    Counts, DmaDevice, DmaProgram, ExpectedMapping, Ledger, ModelConfig,
};
use smmu_testbed::{CRASH_BASE, Testbed};
use smmu_v3_driver::pgtable::Stage;
use smmu_v3_driver::{AdoptSource, AdoptionOutcome, Diagnostic, FallbackReason, StrtabSource};

const RW: Prot = Prot::READ.union(Prot::WRITE);
const IOVA: u64 = 0x4_0000_0000;
const PAGE: u64 = 4096;
const PAGES: u64 = 4;

const PHASES: [&str; 3] = ["kernel1", "handover", "kdump"];

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Paging(Stage),
    Identity,
    Blocked,
}

struct Dev {
    id: DeviceId,
    sid: u32,
    kind: Kind,
    dma: Option<(Arc<DmaDevice>, Arc<ExpectedMapping>)>,
}

/// Totals of the live devices per phase.
#[derive(Debug, Default, Clone, Copy)]
struct PhaseTotals {
    kernel1: Counts,
    handover: Counts,
    kdump: Counts,
}

fn add(a: &mut Counts, b: Counts) {
    a.completed += b.completed;
    a.faulted += b.faulted;
    a.aborted += b.aborted;
    a.misdirected += b.misdirected;
}

fn model(linear: bool) -> ModelConfig {
    if linear {
        ModelConfig::default().two_level_strtab(false).sid_bits(12)
    } else {
        ModelConfig::default()
    }
}

/// The ledger indices of the devices that run DMA.
fn live_indices(devs: &[Dev]) -> Vec<usize> {
    devs.iter()
        .filter_map(|d| d.dma.as_ref().map(|(dma, _)| dma.index()))
        .collect()
}

/// Waits until every device issued at least `n` transactions in `phase`.
fn wait_for(ledger: &Ledger, devs: &[Dev], phase: &str, n: u64) {
    let deadline = Instant::now() + Duration::from_secs(10);
    for d in devs {
        if let Some((dma, _)) = &d.dma {
            while ledger.counts_in_phase(dma.index(), phase).total() < n {
                assert!(Instant::now() < deadline, "DMA stalled");
                std::thread::yield_now();
            }
        }
    }
}

/// Runs the whole scenario and returns the live devices' ledger per phase.
fn handover(linear: bool, adopt: bool) -> PhaseTotals {
    let tb = Testbed::new(model(linear));
    let mut k1 = core(&tb, &small());
    let ledger = Arc::new(Ledger::new());
    ledger.set_phase("kernel1");
    // StreamIDs in four different L2 tables of the 2-level table (8-bit split).
    let specs = [
        (1, 0x10, Kind::Paging(Stage::Stage1)),
        (2, 0x305, Kind::Paging(Stage::Stage2)),
        (5, 0x1a2, Kind::Paging(Stage::Stage2)),
        (6, 0x4c0, Kind::Paging(Stage::Stage1)),
        (3, 0x20, Kind::Identity),
        (4, 0x21, Kind::Blocked),
    ];
    let mut devs = Vec::new();
    for (id, sid, kind) in specs {
        let id = DeviceId(id);
        if let Kind::Paging(stage) = kind {
            // Before the probe, so that the default DMA domain has this stage.
            k1.driver_mut().set_paging_stage(id, Some(stage)).unwrap();
        }
        k1.probe_device(DeviceDesc::new(id, &[StreamId(sid)]))
            .unwrap();
        let dma = match kind {
            Kind::Paging(_) => {
                let buf = tb.alloc_buffer(PAGES * PAGE);
                k1.dma_map(id, Iova(IOVA), PhysAddr(buf), PAGES * PAGE, RW)
                    .unwrap();
                let mapping = Arc::new(ExpectedMapping::new());
                mapping.map(IOVA, buf, PAGES * PAGE);
                let d = device(&tb, &format!("paging-{sid:#x}"), sid, &ledger, &mapping);
                let ring: Vec<u64> = (0..PAGES).map(|i| IOVA + i * PAGE + 0x80).collect();
                d.load(DmaProgram::ring_writer(&ring, 64, u64::from(sid)).forever());
                Some((d, mapping))
            }
            Kind::Identity => {
                let dom = k1.alloc_domain(id, DomainKind::Identity).unwrap();
                k1.attach_device(id, dom).unwrap();
                let buf = tb.alloc_buffer(PAGES * PAGE);
                let mapping = Arc::new(ExpectedMapping::identity());
                let d = device(&tb, "identity", sid, &ledger, &mapping);
                let ring: Vec<u64> = (0..PAGES).map(|i| buf + i * PAGE).collect();
                d.load(DmaProgram::ring_writer(&ring, 64, 0x1d).forever());
                Some((d, mapping))
            }
            Kind::Blocked => {
                let dom = k1.alloc_domain(id, DomainKind::Blocked).unwrap();
                k1.attach_device(id, dom).unwrap();
                None
            }
        };
        devs.push(Dev { id, sid, kind, dma });
    }
    // The IDs kernel 1's live devices use (the domains their STEs point at).
    let k1_ids: Vec<(Option<u16>, Option<u16>)> = devs
        .iter()
        .filter_map(|d| match d.kind {
            Kind::Paging(stage) => Some((d.id, stage)),
            _ => None,
        })
        .map(|(id, stage)| {
            let dom = k1.domain_data(k1.device(id).unwrap().domain).unwrap();
            let ids = (dom.asid().map(|a| a.0), dom.vmid().map(|v| v.0));
            // Each domain has the stage its device asked for.
            match stage {
                Stage::Stage1 => assert!(ids.0.is_some() && ids.1.is_none()),
                Stage::Stage2 => assert!(ids.0.is_none() && ids.1.is_some()),
            }
            ids
        })
        .collect();
    assert_eq!(k1_ids.len(), 4);
    let strtab_base = tb.smmu.read64(reg32::STRTAB_BASE);
    let threads: Vec<_> = devs
        .iter()
        .filter_map(|d| d.dma.as_ref().map(|(dma, _)| dma.spawn()))
        .collect();
    wait_for(&ledger, &devs, "kernel1", 20);

    // Crash: kernel 1 is gone without any teardown; DMA keeps running.
    ledger.set_phase("handover");
    std::mem::forget(k1);
    let kd = tb.reboot(true);
    kd.hal.record_register_writes();
    if !adopt {
        // Hold the old-behaviour reset at the write that clears SMMUEN until every live
        // device has had transactions aborted by GBPA.ABORT (kernel 1's full reset left
        // it set), so the damage is shown deterministically, not by a lucky timing.
        let (ledger, watched) = (Arc::clone(&ledger), live_indices(&devs));
        kd.hal.on_register_write(move |w| {
            if w.offset == CR0 && w.value & 1 == 0 {
                let deadline = Instant::now() + Duration::from_secs(10);
                for &i in &watched {
                    while ledger.counts_in_phase(i, "handover").aborted == 0 {
                        assert!(Instant::now() < deadline, "no GBPA abort seen");
                        std::thread::yield_now();
                    }
                }
            }
        });
    }
    let mut c2 = small();
    c2.adopt = adopt;
    let mut k2: Core = core(&kd, &c2);
    let writes = kd.hal.register_writes();
    let diags = kd.hal.take_diagnostics();
    if adopt {
        assert_eq!(
            k2.driver().adoption(),
            AdoptionOutcome::Adopted {
                source: AdoptSource::Kdump
            }
        );
        assert_eq!(
            k2.driver().strtab_source(),
            StrtabSource::Adopted(AdoptSource::Kdump)
        );
        assert!(diags.contains(&Diagnostic::Adopted {
            source: AdoptSource::Kdump
        }));
        assert!(!diags.contains(&Diagnostic::EnabledAtReset));
        // §7: SMMUEN is 1 at every point; no GBPA / CR1 / CR2 / STRTAB_* writes; no
        // event or PRI queue in a kdump boot; GERROR interrupt only.
        for w in &writes {
            assert!(
                ![
                    GBPA,
                    CR1,
                    CR2,
                    STRTAB_BASE,
                    STRTAB_BASE_CFG,
                    EVENTQ_BASE,
                    PRIQ_BASE
                ]
                .contains(&w.offset),
                "forbidden write {w:?}"
            );
            if w.offset == CR0 {
                assert_eq!(w.value & 1, 1, "CR0 write clearing SMMUEN: {w:?}");
            }
        }
        let last_irq = writes.iter().rev().find(|w| w.offset == IRQ_CTRL).unwrap();
        assert_eq!(last_irq.value, 1, "GERROR_IRQEN only");
        assert_eq!(tb.smmu.read64(reg32::STRTAB_BASE), strtab_base);
    } else {
        assert_eq!(
            k2.driver().adoption(),
            AdoptionOutcome::FellBack(FallbackReason::DisabledByConfig)
        );
        // Kernel 1's full reset already left GBPA at abort; the disable is what aborts.
        assert!(writes.iter().any(|w| w.offset == CR0 && w.value & 1 == 0));
    }
    // Probe in the kdump kernel: §10 deferral, decided from the live STEs.
    for d in &devs {
        if let Kind::Paging(stage) = d.kind {
            // The kdump kernel's domains for the device have the same stage as before.
            k2.driver_mut().set_paging_stage(d.id, Some(stage)).unwrap();
        }
        k2.probe_device(DeviceDesc::new(d.id, &[StreamId(d.sid)]))
            .unwrap();
        let expect = adopt && d.kind != Kind::Blocked;
        assert_eq!(
            k2.is_attach_deferred(d.id).unwrap(),
            expect,
            "sid {:#x}",
            d.sid
        );
    }
    // DMA keeps running through the new kernel's probe.
    let marks: Vec<u64> = devs
        .iter()
        .filter_map(|d| d.dma.as_ref())
        .map(|(dma, _)| ledger.counts_in_phase(dma.index(), "handover").total())
        .collect();
    let deadline = Instant::now() + Duration::from_secs(10);
    for ((dma, _), mark) in devs.iter().filter_map(|d| d.dma.as_ref()).zip(&marks) {
        while ledger.counts_in_phase(dma.index(), "handover").total() < mark + 20 {
            assert!(Instant::now() < deadline, "DMA stalled");
            std::thread::yield_now();
        }
    }
    // Each device's kdump driver quiesces it, then maps DMA: the first map performs the
    // deferred attach (§11.3), rewriting the adopted STE in place (§12).
    for d in devs.iter().filter_map(|d| d.dma.as_ref()) {
        d.0.stop();
    }
    for t in threads {
        t.join().unwrap();
    }
    ledger.set_phase("kdump");
    for d in &devs {
        let Some((dma, mapping)) = &d.dma else {
            continue;
        };
        let buf = kd.alloc_buffer(PAGES * PAGE);
        mapping.set_identity(false);
        mapping.clear();
        k2.dma_map(d.id, Iova(IOVA), PhysAddr(buf), PAGES * PAGE, RW)
            .unwrap();
        mapping.map(IOVA, buf, PAGES * PAGE);
        assert!(!k2.is_attach_deferred(d.id).unwrap());
        let ring: Vec<u64> = (0..PAGES).map(|i| IOVA + i * PAGE + 0x40).collect();
        let pattern = 0xd0d0_0000 | u64::from(d.sid);
        dma.load(DmaProgram::ring_writer(&ring, 64, pattern).repeat(3));
        for _ in 0..3 * PAGES {
            dma.step().unwrap();
        }
        for i in 0..PAGES {
            assert_eq!(kd.mem.read_u64(buf + i * PAGE + 0x40).unwrap(), pattern);
        }
        // The STE is the kdump kernel's: its CD table / S2 table lives in the
        // crashkernel region (smmuv3.md §2.1: S1ContextPtr dw0[55:6], S2TTB dw3[55:4]).
        let ste = k2.driver().ste(smmu_regs::StreamId(d.sid)).unwrap();
        let config = (ste[0] >> 1) & 7;
        let table = match (d.kind, config) {
            // The identity device's kdump driver gets a DMA domain of the default stage
            // (stage 1: the model implements both).
            (Kind::Paging(Stage::Stage1) | Kind::Identity, 5) => ste[0] & 0x00ff_ffff_ffff_ffc0,
            (Kind::Paging(Stage::Stage2), 6) => ste[3] & 0x00ff_ffff_ffff_fff0,
            _ => panic!("sid {:#x}: Config {config}", d.sid),
        };
        assert_eq!(ste[0] & 1, 1);
        assert!(
            (CRASH_BASE..CRASH_BASE + (64 << 20)).contains(&table),
            "{table:#x}"
        );
    }
    // §6, §12: new domains never reuse an ID kernel 1 left live.
    if adopt {
        for (asid, vmid) in &k1_ids {
            let (stage2, id) = match (asid, vmid) {
                (Some(a), _) => (false, *a),
                (_, Some(v)) => (true, *v),
                _ => panic!("paging domain without ASID / VMID"),
            };
            assert!(k2.driver().id_in_use(stage2, u32::from(id)));
        }
        for (d, _) in k2.domains().collect::<Vec<_>>() {
            let dom = k2.domain_data(d).unwrap();
            for (asid, vmid) in &k1_ids {
                if let (Some(a), Some(b)) = (dom.asid(), asid) {
                    assert_ne!(a.0, *b, "ASID reused");
                }
                if let (Some(a), Some(b)) = (dom.vmid(), vmid) {
                    assert_ne!(a.0, *b, "VMID reused");
                }
            }
        }
    }
    let mut totals = PhaseTotals::default();
    for (dma, _) in devs.iter().filter_map(|d| d.dma.as_ref()) {
        add(
            &mut totals.kernel1,
            ledger.counts_in_phase(dma.index(), PHASES[0]),
        );
        add(
            &mut totals.handover,
            ledger.counts_in_phase(dma.index(), PHASES[1]),
        );
        add(
            &mut totals.kdump,
            ledger.counts_in_phase(dma.index(), PHASES[2]),
        );
    }
    eprintln!(
        "linear={linear} adopt={adopt}:\n  kernel1  {:?}\n  handover {:?}\n  kdump    {:?}",
        totals.kernel1, totals.handover, totals.kdump
    );
    totals
}

fn assert_clean(t: &PhaseTotals) {
    for c in [t.kernel1, t.handover, t.kdump] {
        assert_eq!((c.faulted, c.aborted, c.misdirected), (0, 0, 0), "{t:?}");
        assert!(c.completed > 0);
    }
}

/// Kernel 1 mixes stage-1 and stage-2 DMA domains with identity and blocked devices on
/// a 2-level table.
#[test]
fn handover_two_level_mixed_stages() {
    assert_clean(&handover(false, true));
}

/// The same on a linear table.
#[test]
fn handover_linear_mixed_stages() {
    assert_clean(&handover(true, true));
}

/// The old behaviour (adoption disabled): the full reset aborts the in-flight DMA
/// (GBPA abort, then abort STEs of the fresh table) — the damage adoption avoids.
#[test]
fn without_adoption_dma_is_aborted() {
    let t = handover(false, false);
    // At least one abort per live device (the reset was held until then).
    assert!(t.handover.aborted >= 5, "{t:?}");
    assert_eq!(t.kernel1.aborted + t.kernel1.faulted, 0);
    // After each device's driver re-attaches, DMA works again.
    assert_eq!(
        (t.kdump.faulted, t.kdump.aborted, t.kdump.misdirected),
        (0, 0, 0)
    );
}
