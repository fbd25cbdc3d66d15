//! Scenario 1 (issue 9): the smmu-rs driver on QEMU's SMMUv3 with real DMA.
//!
//! Probe and reset the SMMU with `smmu-v3-driver`, put the edu device into a stage-1 DMA
//! domain through `iommu-core`, map two pages at IOVAs that differ from their physical
//! addresses, let the edu device copy through them both ways and check the data; then
//! unmap and show that the next DMA in each direction faults, with an F_TRANSLATION event
//! the driver drains and decodes.
//!
//! The IOVAs lie below 256 MiB, so they survive the edu device's default 28-bit DMA mask,
//! while the pages themselves are at 1 GiB and above: the SMMU is what lets the device
//! reach them.

use alloc::vec::Vec;

use iommu_core::{DefaultDomainKind, DeviceDesc, DeviceId, DomainKind, IommuCore, Iova, Prot};
use smmu_regs::event::{Event, FaultClass, TranslationFaultKind};
use smmu_regs::regs::{Cr0, Gerror, offset};
use smmu_v3_driver::{Config, SmmuV3, probe};

use crate::console::println;
use crate::dma::{DmaBuffer, pattern};
use crate::edu::{self, Edu, EduError};
use crate::hal::QemuHal;
use crate::mmio::Mmio;
use crate::report::Report;
use crate::{DMA0, Machine};

/// IOVA of the source page (RAM → device).
pub const IOVA_SRC: u64 = 0x0010_0000;
/// IOVA of the destination page (device → RAM).
pub const IOVA_DST: u64 = 0x0020_0000;
/// Transfer length (the most QEMU 7.2's edu moves at once).
const LEN: u64 = edu::USABLE_END;
const PAGE: usize = 4096;

/// The IOMMU core over the driver: 4 devices, 4 groups, 8 domains, 2 StreamIDs each.
pub type Core = IommuCore<SmmuV3<QemuHal>, 4, 4, 8, 2>;

/// Runs scenario 1; needs the SMMU (`iommu=smmuv3`).
pub fn run(m: &Machine, report: &mut Report) {
    let (Some(regs), Some(sid), Some(node)) = (m.smmu, m.edu.sid, m.info.smmu) else {
        return;
    };
    println!("Scenario 1: driver probe/reset, stage-1 DMA domain, translated DMA, fault");
    // SAFETY: `regs` is the SMMU frame from the device tree (Device memory); DMA0 was
    // initialised over identity-mapped RAM used only for DMA memory; `ram` is the
    // identity-mapped RAM; coherency is the DT's `dma-coherent`; this is the first kernel.
    let hal = unsafe { QemuHal::new(regs, &DMA0, m.info.ram, false, Some(node.coherent)) };
    let (features, options) = match probe(&hal, &Config::default()) {
        Ok(probed) => probed,
        Err(e) => {
            report.check("s1-probe", false, format_args!("{e}"));
            return;
        }
    };
    report.check(
        "s1-probe",
        true,
        format_args!(
            "stage1 {}, stage2 {}, {} SID bits, 2-level strtab {}, coherent {}, paging {:?}",
            features.stage1,
            features.stage2,
            features.sid_bits,
            features.two_level_strtab,
            options.coherent,
            options.paging_stage
        ),
    );
    let smmu = match SmmuV3::new(hal, features, options) {
        Ok(smmu) => smmu,
        Err(e) => {
            report.check("s1-structures", false, format_args!("{e}"));
            return;
        }
    };
    let mut core: Core = IommuCore::new(smmu, DefaultDomainKind::Dma);
    let reset = core.driver_mut().reset();
    let cr0ack = Cr0::from_bits_retain(regs.read32(offset::CR0ACK));
    let cfg = regs.read32(offset::STRTAB_BASE_CFG);
    let wanted = Cr0::SMMUEN | Cr0::CMDQEN | Cr0::EVENTQEN;
    report.check(
        "s1-reset",
        reset.is_ok() && cr0ack.contains(wanted),
        format_args!(
            "{reset:?}; CR0ACK {:#x}, STRTAB_BASE {:#x}, STRTAB_BASE_CFG {cfg:#x} (FMT {}, SPLIT {}, \
             LOG2SIZE {}), CMDQ_BASE {:#x}, EVENTQ_BASE {:#x}",
            cr0ack.bits(),
            regs.read64(offset::STRTAB_BASE),
            (cfg >> 16) & 3,
            (cfg >> 6) & 0x1f,
            cfg & 0x3f,
            regs.read64(offset::CMDQ_BASE),
            regs.read64(offset::EVENTQ_BASE)
        ),
    );
    report.check(
        "s1-two-level-strtab",
        (cfg >> 16) & 3 == 1,
        format_args!("the driver chose the 2-level stream table QEMU offers"),
    );
    if reset.is_err() {
        return;
    }

    let dev = DeviceId(u32::from(m.edu.bdf.rid()));
    let sids = [iommu_core::StreamId(sid)];
    let probed = core.probe_device(DeviceDesc::new(dev, &sids));
    let info = core.device(dev);
    let kind = info
        .as_ref()
        .ok()
        .and_then(|i| core.domain_kind(i.domain).ok());
    let ste = core.driver().ste(smmu_regs::StreamId(sid));
    let ste_cfg = ste.as_ref().map_or(0, |w| w[0] & 0xf);
    report.check(
        "s1-attach-dma-domain",
        probed.is_ok()
            && kind == Some(DomainKind::Dma)
            && info
                .as_ref()
                .is_ok_and(|i| !i.attach_deferred && i.attached_domain.is_some())
            && ste_cfg == 0b1011,
        format_args!(
            "probe {probed:?}; current domain {kind:?}; STE[{sid:#x}] dw0 {:#x} (V = 1, Config = \
             0b101 stage 1 only)",
            ste.as_ref().map_or(0, |w| w[0])
        ),
    );
    if probed.is_err() {
        return;
    }

    let (Some(src), Some(dst)) = (DmaBuffer::new(&DMA0, PAGE), DmaBuffer::new(&DMA0, PAGE)) else {
        report.check("dma-buffers", false, format_args!("DMA region exhausted"));
        return;
    };
    let rw = Prot::READ | Prot::WRITE | Prot::CACHE;
    let mapped = core
        .dma_map(
            dev,
            Iova(IOVA_SRC),
            iommu_core::PhysAddr(src.pa()),
            PAGE as u64,
            rw,
        )
        .and_then(|()| {
            core.dma_map(
                dev,
                Iova(IOVA_DST),
                iommu_core::PhysAddr(dst.pa()),
                PAGE as u64,
                rw,
            )
        });
    let back = (
        core.iova_to_phys(dev, Iova(IOVA_SRC + 0x123)),
        core.iova_to_phys(dev, Iova(IOVA_DST)),
    );
    report.check(
        "s1-map",
        mapped.is_ok()
            && matches!(back.0, Ok(Some(pa)) if pa.0 == src.pa() + 0x123)
            && matches!(back.1, Ok(Some(pa)) if pa.0 == dst.pa()),
        format_args!(
            "{mapped:?}: IOVA {IOVA_SRC:#x} -> PA {:#x}, IOVA {IOVA_DST:#x} -> PA {:#x}; \
             iova_to_phys {back:x?}",
            src.pa(),
            dst.pa()
        ),
    );
    if mapped.is_err() {
        return;
    }

    let reach = IOVA_SRC.max(IOVA_DST) + PAGE as u64 - 1;
    report.check(
        "s1-iova-below-dma-mask",
        reach & !m.edu.dma_mask == 0,
        format_args!(
            "IOVAs end at {reach:#x}, inside the edu dma_mask {:#x}; the pages' PAs {:#x}, {:#x} \
             are not",
            m.edu.dma_mask,
            src.pa(),
            dst.pa()
        ),
    );
    let edu = &m.edu.dev;
    src.fill_pattern(0xa1);
    dst.fill(0);
    // SAFETY: the IOVAs map to `src` and `dst`, DMA buffers owned here and accessed only
    // by volatile byte accesses.
    let transfer = unsafe {
        edu.dma_from_ram(IOVA_SRC, 0, LEN)
            .and_then(|()| edu.dma_to_ram(0, IOVA_DST, LEN))
    };
    let mismatch = dst.first_mismatch(0..LEN as usize, |i| pattern(0xa1, i));
    report.check(
        "s1-dma-translated",
        transfer.is_ok() && mismatch.is_none(),
        format_args!(
            "{LEN} bytes IOVA {IOVA_SRC:#x} (PA {:#x}) -> edu -> IOVA {IOVA_DST:#x} (PA {:#x}): \
             {transfer:?}, first mismatch {mismatch:?}",
            src.pa(),
            dst.pa()
        ),
    );
    let quiet = drain(&core, false);
    report.check(
        "s1-no-events",
        quiet.is_empty(),
        format_args!(
            "event queue empty after the mapped transfers ({} records)",
            quiet.len()
        ),
    );

    fault_after_unmap(&mut core, dev, edu, &dst, sid, report);
    gerror_clean(&core, &regs, report);
    // Leave the SMMU enabled with the device attached: scenario 2 starts from here.
    core::mem::forget(core);
}

/// Drains the event queue; prints every decoded record, or with `quiet` only the first
/// and the last.
fn drain(core: &Core, quiet: bool) -> Vec<Event> {
    let mut events = Vec::new();
    let drained = core.driver().drain_events(|e| {
        if !quiet || events.is_empty() {
            println!("  event: {e:?}");
        }
        events.push(*e);
    });
    if quiet
        && events.len() > 1
        && let Some(last) = events.last()
    {
        println!("  ... {} more, the last: {last:?}", events.len() - 1);
    }
    match drained {
        Ok(d) if d.overflow => println!("  event queue overflow reported by EVENTQ_PROD.OVFLG"),
        Ok(_) => {}
        Err(e) => println!("  drain_events failed: {e}"),
    }
    events
}

/// Whether `e` is an F_TRANSLATION for `sid` at `iova` in direction `read`.
fn is_translation_fault(e: &Event, sid: u32, iova: u64, read: bool) -> bool {
    matches!(e, Event::TranslationFault(f)
        if f.kind == TranslationFaultKind::Translation
            && f.sid.0 == sid
            && f.input_addr.0 == iova
            && f.rnw == read)
}

/// Whether `e` is an F_TRANSLATION for `sid` inside the page at `page`.
fn is_fault_in_page(e: &Event, sid: u32, page: u64) -> bool {
    matches!(e, Event::TranslationFault(f)
        if f.kind == TranslationFaultKind::Translation
            && f.sid.0 == sid
            && f.input_addr.0 & !0xfff == page)
}

/// One 4-byte access: QEMU's SMMU records one event per failed access, and the DMA core
/// retries a failed transfer access by access, 4 bytes at a time.
const FAULT_LEN: u64 = 4;

fn fault_after_unmap(
    core: &mut Core,
    dev: DeviceId,
    edu: &Edu,
    dst: &DmaBuffer,
    sid: u32,
    report: &mut Report,
) {
    // Device write through an unmapped IOVA.
    let unmapped = core.dma_unmap(dev, Iova(IOVA_DST), PAGE as u64);
    let gone = core.iova_to_phys(dev, Iova(IOVA_DST));
    report.check(
        "s1-unmap",
        matches!(unmapped, Ok(n) if n == PAGE as u64) && matches!(gone, Ok(None)),
        format_args!("unmap IOVA {IOVA_DST:#x}: {unmapped:?}, iova_to_phys now {gone:?}"),
    );
    dst.fill(0xcc);
    // SAFETY: the IOVA is unmapped, so the device can write nowhere; `dst` stays owned
    // here and is only accessed by volatile byte accesses.
    let write: Result<(), EduError> = unsafe { edu.dma_to_ram(0, IOVA_DST, FAULT_LEN) };
    let landed = dst.first_mismatch(0..PAGE, |_| 0xcc);
    report.check(
        "s1-write-blocked-after-unmap",
        write.is_ok() && landed.is_none(),
        format_args!("edu -> IOVA {IOVA_DST:#x}: {write:?}, old page changed at {landed:?}"),
    );
    let events = drain(core, false);
    if let Some(Event::TranslationFault(f)) = events.first()
        && f.class != FaultClass::InputAddr
    {
        println!(
            "DEVIATION: the F_TRANSLATION record has CLASS = {:?} ({}); the spec says IN (2) \
                 for a fault on the input address",
            f.class,
            f.class.raw()
        );
    }
    report.check(
        "s1-write-fault-event",
        events.len() == 1
            && events
                .iter()
                .all(|e| is_translation_fault(e, sid, IOVA_DST, false)),
        format_args!(
            "{} record(s), expected one F_TRANSLATION, StreamID {sid:#x}, InputAddr \
             {IOVA_DST:#x}, write",
            events.len()
        ),
    );

    // Device read through an unmapped IOVA.
    let unmapped = core.dma_unmap(dev, Iova(IOVA_SRC), PAGE as u64);
    // SAFETY: as above; the device can read nothing through the unmapped IOVA.
    let read = unsafe { edu.dma_from_ram(IOVA_SRC, 0, FAULT_LEN) };
    let events = drain(core, false);
    report.check(
        "s1-read-fault-event",
        matches!(unmapped, Ok(n) if n == PAGE as u64)
            && read.is_ok()
            && events.len() == 1
            && events
                .iter()
                .all(|e| is_translation_fault(e, sid, IOVA_SRC, true)),
        format_args!(
            "unmap {unmapped:?}; edu <- IOVA {IOVA_SRC:#x}: {read:?}; {} record(s), expected one \
             F_TRANSLATION, StreamID {sid:#x}, InputAddr {IOVA_SRC:#x}, read",
            events.len()
        ),
    );

    // A whole faulting transfer: about 1024 events for a 128-entry event queue.
    let entries = 1usize << core.driver().options().evtq_log2size;
    // SAFETY: as above.
    let flood = unsafe { edu.dma_to_ram(0, IOVA_DST, LEN) };
    let events = drain(core, true);
    let overflows = core.driver().event_overflows();
    let gerror = core.driver().handle_gerror();
    let abt = matches!(gerror, Ok(g) if g.contains(Gerror::EVENTQ_ABT_ERR));
    if abt && overflows == 0 {
        println!(
            "DEVIATION: the full event queue raised GERROR.EVENTQ_ABT_ERR instead of toggling \
             EVENTQ_PROD.OVFLG (QEMU does not model event queue overflow); the driver \
             acknowledged it through GERRORN"
        );
    }
    report.check(
        "s1-event-queue-full",
        flood.is_ok()
            && !events.is_empty()
            && events.len() <= entries
            && events.iter().all(|e| is_fault_in_page(e, sid, IOVA_DST))
            && (overflows > 0 || abt),
        format_args!(
            "{LEN}-byte faulting write: {} records drained from a {entries}-entry queue, \
             overflows seen {overflows}, GERROR handled {gerror:?}",
            events.len()
        ),
    );
    // The queue works again.
    // SAFETY: as above.
    let again = unsafe { edu.dma_to_ram(0, IOVA_DST, FAULT_LEN) };
    let events = drain(core, false);
    report.check(
        "s1-events-after-queue-full",
        again.is_ok()
            && events.len() == 1
            && events
                .iter()
                .all(|e| is_translation_fault(e, sid, IOVA_DST, false)),
        format_args!("one more faulting write: {} record(s)", events.len()),
    );
}

fn gerror_clean(core: &Core, regs: &Mmio, report: &mut Report) {
    let gerror = core.driver().handle_gerror();
    report.check(
        "s1-no-gerror",
        matches!(gerror, Ok(g) if g.is_empty()),
        format_args!(
            "{gerror:?}; GERROR {:#x} GERRORN {:#x}",
            regs.read32(offset::GERROR),
            regs.read32(offset::GERRORN)
        ),
    );
}
