//! Scenario 2 (issue 9 with the kdump issue, `shared/spec/kdump.md`): a kdump kernel
//! adopts the SMMU state a crashed kernel left enabled, on QEMU's SMMUv3, while the edu
//! device keeps doing DMA.
//!
//! Each variant boots two "kernels" in this one program:
//!
//! 1. **Kernel 1** probes and resets the SMMU as an ordinary boot does (its DMA memory is
//!    region A, one part of `dma1`), gives the edu device a DMA domain, maps buffer B1
//!    (in region A) at an IOVA that is not B1's address and checks a DMA round trip. Then
//!    it "crashes": the `IommuCore` is leaked with `mem::forget`, without any teardown, so
//!    the SMMU stays enabled with kernel 1's stream table, CD and page tables live in
//!    region A.
//! 2. **The kdump kernel** re-enters the driver with a new [`QemuHal`]: `is_kdump_kernel()`
//!    is true and its DMA memory is region C, another part of `dma1` that kernel 1 never
//!    used (the `crashkernel=` reservation). Every register write it makes is recorded
//!    ([`WriteLog`]).
//!
//! Variants:
//!
//! * `s2-*`: adoption (`Config::adopt`, the default) with stage-1 DMA domains: probe takes
//!   the adopt decision, `SmmuV3::new` adopts the live stream table, the adopt-mode reset
//!   keeps SMMUEN set and writes none of GBPA, CR1, CR2, STRTAB_BASE, STRTAB_BASE_CFG
//!   or the event / PRI queue registers, kernel 1's ASID stays reserved, the edu device is
//!   deferred on its live STE, a DMA during the handover still lands in B1 (and nothing in
//!   region A changed), and the first `dma_map` (buffer B2 in region C) performs the
//!   deferred attach: the STE, rewritten in place in kernel 1's L2 table (the only bytes
//!   of region A that change), now points at a CD and page table in region C, and the
//!   next DMA lands in B2 and not in B1.
//! * `s2-stage2-*`: the same with stage-2 domains (a VMID instead of an ASID, S2TTB
//!   instead of a CD), run only when IDR0.S2P says the SMMU has stage 2. QEMU 7.2 has
//!   stage 1 only, so there it prints a `NOTE:` instead.
//! * `s2-fallback-*`: `Config::adopt = false`, the behaviour before the kdump series:
//!   the driver falls back to the full reset (GBPA abort, SMMUEN cleared, a fresh stream
//!   table in region C), the device is not deferred, kernel 1's mapping is gone, and DMA
//!   works again once the kdump kernel maps a buffer. When the edu's `dma_mask` reaches
//!   RAM, kernel 1 maps B1 at an IOVA that is the physical address of a decoy page D and
//!   a DMA is issued from inside the reset, right after the CR0 write that clears SMMUEN
//!   ([`WindowProbe`]): on QEMU 7.2, which has no GBPA, it bypasses the SMMU and writes D,
//!   the "DMA lands on untranslated 1:1 addresses" of kdump.md §1.
//! * `s2-qemu-strtab-base-unguarded`: whether QEMU takes a STRTAB_BASE write while the
//!   SMMU is enabled (the reason scenario 2 records the driver's writes rather than trust
//!   the hardware to ignore them).

use alloc::boxed::Box;
use alloc::format;
use alloc::vec::Vec;
use core::fmt;
use core::sync::atomic::{AtomicBool, AtomicU8, Ordering};

use iommu_core::{DefaultDomainKind, DeviceDesc, DeviceId, DomainKind, IommuCore, Iova, Prot};
use smmu_regs::caps::Capabilities;
use smmu_regs::cd::Cd;
use smmu_regs::regs::{Cr0, Gbpa, IrqCtrl, offset};
use smmu_regs::ste::{Config as SteConfig, Ste};
use smmu_v3_driver::pgtable::Stage;
use smmu_v3_driver::{AdoptSource, AdoptionOutcome, Config, FallbackReason, SmmuV3, StrtabSource};

use crate::console::println;
use crate::dma::{DmaBuffer, pattern};
use crate::edu::{self, Edu};
use crate::hal::{QemuHal, WriteHook, WriteLog};
use crate::heap::Bump;
use crate::mmio::Mmio;
use crate::platform::Range;
use crate::report::Report;
use crate::scenario1::Core;
use crate::{DMA1, Machine};

/// The IOVA kernel 1 maps B1 at (below 256 MiB: inside the edu's default 28-bit mask).
const IOVA: u64 = 0x0030_0000;
/// Transfer length (the most QEMU 7.2's edu moves at once).
const LEN: u64 = edu::USABLE_END;
const PAGE: usize = 4096;
/// The test-pattern seed of kernel 1's round trip (the edu buffer keeps it afterwards).
const K1_SEED: u8 = 0x31;

/// Registers an adopt-mode reset must not write (kdump.md §7, §8): GBPA, CR1, CR2, the
/// stream-table base registers (both halves), and the event and PRI queues (a kdump
/// kernel runs without them). CR0 is checked separately: it may be written, with SMMUEN.
const ADOPT_FORBIDDEN: [(usize, &str); 16] = [
    (offset::GBPA, "GBPA"),
    (offset::CR1, "CR1"),
    (offset::CR2, "CR2"),
    (offset::STRTAB_BASE, "STRTAB_BASE"),
    (offset::STRTAB_BASE + 4, "STRTAB_BASE[63:32]"),
    (offset::STRTAB_BASE_CFG, "STRTAB_BASE_CFG"),
    (offset::EVENTQ_BASE, "EVENTQ_BASE"),
    (offset::EVENTQ_BASE + 4, "EVENTQ_BASE[63:32]"),
    (offset::EVENTQ_PROD, "EVENTQ_PROD"),
    (offset::EVENTQ_CONS, "EVENTQ_CONS"),
    (offset::EVENTQ_PROD_PAGE0, "EVENTQ_PROD (page 0)"),
    (offset::EVENTQ_CONS_PAGE0, "EVENTQ_CONS (page 0)"),
    (offset::PRIQ_BASE, "PRIQ_BASE"),
    (offset::PRIQ_BASE + 4, "PRIQ_BASE[63:32]"),
    (offset::PRIQ_PROD, "PRIQ_PROD"),
    (offset::PRIQ_CONS, "PRIQ_CONS"),
];

/// What every variant needs from bring-up.
#[derive(Clone, Copy)]
struct Ctx {
    regs: Mmio,
    ram: Range,
    coherent: bool,
    sid: u32,
    dev: DeviceId,
    edu: Edu,
    dma_mask: u64,
}

impl Ctx {
    fn sids(&self) -> [iommu_core::StreamId; 1] {
        [iommu_core::StreamId(self.sid)]
    }

    fn desc<'a>(&self, sids: &'a [iommu_core::StreamId]) -> DeviceDesc<'a> {
        DeviceDesc::new(self.dev, sids)
    }

    fn ste(&self, core: &Core) -> Option<[u64; 8]> {
        core.driver().ste(smmu_regs::StreamId(self.sid)).ok()
    }
}

/// Checks named `<prefix>-<name>`.
struct Checks<'a> {
    report: &'a mut Report,
    prefix: &'static str,
}

impl Checks<'_> {
    fn check(&mut self, name: &str, ok: bool, detail: fmt::Arguments<'_>) -> bool {
        self.report
            .check(&format!("{}-{name}", self.prefix), ok, detail)
    }
}

/// Runs scenario 2; needs the SMMU (`iommu=smmuv3`). Starts from whatever scenario 1
/// left (normally the SMMU enabled by its leaked driver).
pub fn run(m: &Machine, report: &mut Report) {
    let (Some(regs), Some(sid), Some(node)) = (m.smmu, m.edu.sid, m.info.smmu) else {
        return;
    };
    let ctx = Ctx {
        regs,
        ram: m.info.ram,
        coherent: node.coherent,
        sid,
        dev: DeviceId(u32::from(m.edu.bdf.rid())),
        edu: m.edu.dev,
        dma_mask: m.edu.dma_mask,
    };
    println!(
        "Scenario 2: kdump handover: kernel 1 crashes with the SMMU enabled, a kdump kernel \
         adopts its tables"
    );
    let idr0 = regs.read32(offset::IDR0);
    let caps = Capabilities::from_raw(
        idr0,
        regs.read32(offset::IDR1),
        regs.read32(offset::IDR3),
        regs.read32(offset::IDR5),
        regs.read32(offset::AIDR),
    );
    if caps.stage1 {
        adopt_variant(
            &ctx,
            &mut Checks {
                report: &mut *report,
                prefix: "s2",
            },
            Stage::Stage1,
            &DMA1[0],
            &DMA1[1],
        );
    } else {
        println!("NOTE: stage-1 handover not run: IDR0 {idr0:#010x} has S1P = 0");
    }
    if caps.stage2 {
        println!("Scenario 2, stage 2: the same handover with stage-2 DMA domains");
        adopt_variant(
            &ctx,
            &mut Checks {
                report: &mut *report,
                prefix: "s2-stage2",
            },
            Stage::Stage2,
            &DMA1[2],
            &DMA1[3],
        );
    } else {
        println!(
            "NOTE: stage-2 handover not run: IDR0 {idr0:#010x} has S2P = 0 (QEMU 7.2's SMMUv3 \
             implements stage 1 only)"
        );
    }
    println!("Scenario 2, fallback: the same crash, the kdump kernel with Config::adopt = false");
    fallback_variant(
        &ctx,
        &mut Checks {
            report: &mut *report,
            prefix: "s2-fallback",
        },
        if caps.stage1 {
            Stage::Stage1
        } else {
            Stage::Stage2
        },
        &DMA1[4],
        &DMA1[5],
    );
    strtab_base_guard(&regs, report);
}

/// Whether `len` bytes at `pa` lie inside the memory `region` has handed out.
fn in_region(region: &Bump, pa: u64, len: u64) -> bool {
    let (start, _) = region.region();
    let next = start + region.used();
    pa >= start as u64 && pa.saturating_add(len) <= next as u64
}

/// The region's span, for messages.
struct Span<'a>(&'a Bump);

impl fmt::Display for Span<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (start, end) = self.0.region();
        write!(f, "{start:#x}..{end:#x}")
    }
}

/// Addresses, printed as hex on one line.
struct Addrs<'a>(&'a [usize]);

impl fmt::Display for Addrs<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[")?;
        for (i, a) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{a:#x}")?;
        }
        f.write_str("]")
    }
}

/// The stream table address in STRTAB_BASE (ADDR, bits [55:6]).
fn strtab_addr(base: u64) -> u64 {
    base & 0x00ff_ffff_ffff_ffc0
}

/// The domain ID (stage 2?, ASID or VMID) of the device's current domain.
fn domain_id(core: &Core, dev: DeviceId) -> Option<(bool, u32)> {
    let info = core.device(dev).ok()?;
    let dom = core.domain_data(info.domain).ok()?;
    match (dom.asid(), dom.vmid()) {
        (Some(a), _) => Some((false, u32::from(a.0))),
        (_, Some(v)) => Some((true, u32::from(v.0))),
        _ => None,
    }
}

/// A valid translating STE's Config and table pointer: S1ContextPtr (stage 1) or S2TTB
/// (stage 2).
fn ste_table(ste: &Ste) -> Option<(SteConfig, u64)> {
    if !ste.is_valid() {
        return None;
    }
    match ste.config() {
        SteConfig::S1Trans => Some((SteConfig::S1Trans, ste.s1_context_ptr().0)),
        SteConfig::S2Trans => Some((SteConfig::S2Trans, ste.s2ttb().0)),
        _ => None,
    }
}

/// Reads the 64-byte CD at `pa`, which must lie in memory `region` handed out.
fn read_cd(region: &Bump, pa: u64) -> Option<Cd> {
    if !in_region(region, pa, 64) || !pa.is_multiple_of(8) {
        return None;
    }
    let mut words = [0u64; 8];
    for (i, w) in words.iter_mut().enumerate() {
        // SAFETY: `pa + 8 i` lies inside a DMA region handed out by `region` (identity-
        // mapped Normal RAM), 8-byte aligned; a volatile read of a u64 is valid for any bit
        // pattern and creates no reference to memory the driver or the SMMU may write.
        *w = unsafe { ((pa as usize + 8 * i) as *const u64).read_volatile() };
    }
    Some(Cd::from_words(words))
}

/// The memory a kernel's region has handed out, word by word, with one hole (a DMA
/// buffer the device is expected to write).
struct Snapshot {
    start: usize,
    words: Vec<u64>,
    hole: core::ops::Range<usize>,
}

impl Snapshot {
    fn take(region: &Bump, hole: &DmaBuffer) -> Self {
        let (start, _) = region.region();
        let n = region.used() / 8;
        let words = (0..n).map(|i| Self::word(start, i)).collect();
        let hole = hole.pa() as usize..hole.pa() as usize + PAGE;
        Self { start, words, hole }
    }

    fn word(start: usize, i: usize) -> u64 {
        // SAFETY: `start + 8 i` lies inside the part of a DMA region handed out so far
        // (identity-mapped Normal RAM; the region start is page aligned); a volatile read
        // of a u64 is valid for any bit pattern and creates no reference to memory the
        // driver or the SMMU may write.
        unsafe { ((start + 8 * i) as *const u64).read_volatile() }
    }

    /// Addresses of the words that differ from the snapshot, outside the hole.
    fn changed(&self) -> Vec<usize> {
        (0..self.words.len())
            .filter(|&i| {
                let addr = self.start + 8 * i;
                !self.hole.contains(&addr) && Self::word(self.start, i) != self.words[i]
            })
            .map(|i| self.start + 8 * i)
            .collect()
    }

    fn bytes(&self) -> usize {
        self.words.len() * 8
    }
}

/// The register writes of one kernel, summarised.
struct Writes {
    total: usize,
    overflowed: bool,
    forbidden: Vec<(&'static str, u64)>,
    cr0: Vec<u64>,
    irq_ctrl: Vec<u64>,
    gbpa: Vec<u64>,
    strtab_base: bool,
}

impl Writes {
    fn of(log: &WriteLog) -> Self {
        let mut w = Writes {
            total: log.total(),
            overflowed: log.overflowed(),
            forbidden: Vec::new(),
            cr0: Vec::new(),
            irq_ctrl: Vec::new(),
            gbpa: Vec::new(),
            strtab_base: false,
        };
        for (off, value) in log.entries() {
            if let Some((_, name)) = ADOPT_FORBIDDEN.iter().find(|(o, _)| *o == off) {
                w.forbidden.push((name, value));
            }
            match off {
                offset::CR0 => w.cr0.push(value),
                offset::IRQ_CTRL => w.irq_ctrl.push(value),
                offset::GBPA => w.gbpa.push(value),
                offset::STRTAB_BASE => w.strtab_base = true,
                _ => {}
            }
        }
        w
    }

    /// CR0 writes that clear SMMUEN.
    fn disables(&self) -> usize {
        self.cr0
            .iter()
            .filter(|&&v| v & u64::from(Cr0::SMMUEN.bits()) == 0)
            .count()
    }

    /// kdump.md §7, §8: nothing forbidden, SMMUEN in every CR0 write, GERROR the only
    /// interrupt in the last IRQ_CTRL write.
    fn adopt_ok(&self) -> bool {
        !self.overflowed
            && self.forbidden.is_empty()
            && !self.cr0.is_empty()
            && self.disables() == 0
            && self.irq_ctrl.last() == Some(&u64::from(IrqCtrl::GERROR_IRQEN.bits()))
    }
}

impl fmt::Display for Writes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} register writes{}; forbidden ones {:x?}; CR0 {:x?}; IRQ_CTRL {:x?}; GBPA {:x?}",
            self.total,
            if self.overflowed {
                " (log overflowed)"
            } else {
                ""
            },
            self.forbidden,
            self.cr0,
            self.irq_ctrl,
            self.gbpa
        )
    }
}

/// What kernel 1 leaves behind at its crash.
struct Kernel1 {
    b1: DmaBuffer,
    ste: [u64; 8],
    strtab_base: u64,
    strtab_base_cfg: u32,
    /// (stage 2?, ASID or VMID) of the edu's DMA domain.
    id: (bool, u32),
}

/// Boots kernel 1 on `region`, maps B1 at `iova` for the edu device with `stage`
/// domains, checks a round trip (`<prefix>-k1`), and crashes (leaks the core). Returns
/// what it left live, or `None` after a failed check.
fn kernel1(
    ctx: &Ctx,
    checks: &mut Checks<'_>,
    stage: Stage,
    region: &'static Bump,
    iova: u64,
) -> Option<Kernel1> {
    // SAFETY: `ctx.regs` is the SMMU frame from the device tree (Device memory); `region`
    // is a part of `dma1`, identity-mapped RAM used only for this kernel's DMA memory;
    // `ram` is the identity-mapped RAM; coherency is the DT's `dma-coherent`; kernel 1 is
    // no kdump kernel.
    let hal = unsafe { QemuHal::new(ctx.regs, region, ctx.ram, false, Some(ctx.coherent)) };
    let mut config = Config::default();
    config.paging_stage = Some(stage);
    let booted = smmu_v3_driver::probe(&hal, &config).and_then(|(features, options)| {
        let outcome = options.adoption;
        SmmuV3::new(hal, features, options).map(|smmu| (smmu, outcome))
    });
    let (smmu, outcome) = match booted {
        Ok(b) => b,
        Err(e) => {
            checks.check("k1", false, format_args!("kernel 1 probe / init: {e}"));
            return None;
        }
    };
    let mut core: Core = IommuCore::new(smmu, DefaultDomainKind::Dma);
    let reset = core.driver_mut().reset();
    let sids = ctx.sids();
    let probed = reset
        .map_err(iommu_core::Error::Driver)
        .and_then(|()| core.probe_device(ctx.desc(&sids)));
    let Some(b1) = DmaBuffer::new(region, PAGE) else {
        checks.check("k1", false, format_args!("region A exhausted"));
        return None;
    };
    let rw = Prot::READ | Prot::WRITE | Prot::CACHE;
    let mapped = probed.and_then(|_| {
        core.dma_map(
            ctx.dev,
            Iova(iova),
            iommu_core::PhysAddr(b1.pa()),
            PAGE as u64,
            rw,
        )
    });
    let attached = core
        .device(ctx.dev)
        .is_ok_and(|i| !i.attach_deferred && i.attached_domain.is_some());
    b1.fill_pattern(K1_SEED);
    // Run only when mapped: then the SMMU is enabled (the reset succeeded).
    let transfer = mapped.is_ok().then(|| {
        // SAFETY: the SMMU is enabled and `iova` maps B1, a DMA buffer owned here and
        // accessed only by volatile byte accesses.
        let read = unsafe { ctx.edu.dma_from_ram(iova, 0, LEN) };
        b1.fill(0);
        // SAFETY: as above.
        let write = unsafe { ctx.edu.dma_to_ram(0, iova, LEN) };
        read.and(write)
    });
    let mismatch = b1.first_mismatch(0..LEN as usize, |i| pattern(K1_SEED, i));
    let ste = ctx.ste(&core).unwrap_or_default();
    let strtab_base = ctx.regs.read64(offset::STRTAB_BASE);
    let strtab_base_cfg = ctx.regs.read32(offset::STRTAB_BASE_CFG);
    let id = domain_id(&core, ctx.dev);
    let cr0ack = Cr0::from_bits_retain(ctx.regs.read32(offset::CR0ACK));
    let ok = mapped.is_ok()
        && attached
        && transfer.is_some_and(|t| t.is_ok())
        && mismatch.is_none()
        && id.is_some()
        && cr0ack.contains(Cr0::SMMUEN | Cr0::CMDQEN | Cr0::EVENTQEN)
        && in_region(region, strtab_addr(strtab_base), 64);
    checks.check(
        "k1",
        ok,
        format_args!(
            "kernel 1 (region A {}; adopt decision {outcome:?}): full reset, stream table at \
             {:#x}, STRTAB_BASE_CFG {strtab_base_cfg:#x}; edu attached {attached}, STE dw0 \
             {:#x}, {} {:?}; map IOVA {iova:#x} -> B1 {:#x}: {mapped:?}; {LEN} bytes B1 -> edu \
             -> B1: {transfer:?}, first mismatch {mismatch:?}",
            Span(region),
            strtab_addr(strtab_base),
            ste[0],
            if stage == Stage::Stage2 {
                "VMID"
            } else {
                "ASID"
            },
            id.map(|i| i.1),
            b1.pa(),
        ),
    );
    if !ok {
        return None;
    }
    // The crash: no teardown at all. The SMMU stays enabled on kernel 1's tables.
    core::mem::forget(core);
    Some(Kernel1 {
        b1,
        ste,
        strtab_base,
        strtab_base_cfg,
        id: id?,
    })
}

/// The handover with adoption (kdump.md §2–§12).
fn adopt_variant(
    ctx: &Ctx,
    checks: &mut Checks<'_>,
    stage: Stage,
    a: &'static Bump,
    c: &'static Bump,
) {
    let Some(k1) = kernel1(ctx, checks, stage, a, IOVA) else {
        return;
    };
    let snapshot = Snapshot::take(a, &k1.b1);

    // Between the crash and the kdump kernel's SMMU probe: kernel 1's tables translate.
    k1.b1.fill(0);
    // SAFETY: IOVA maps B1 in kernel 1's live tables; B1 is owned here and accessed only by
    // volatile byte accesses.
    let write = unsafe { ctx.edu.dma_to_ram(0, IOVA, LEN) };
    let mismatch = k1
        .b1
        .first_mismatch(0..LEN as usize, |i| pattern(K1_SEED, i));
    checks.check(
        "dma-after-crash",
        write.is_ok() && mismatch.is_none(),
        format_args!(
            "crash (core leaked); edu -> IOVA {IOVA:#x} before the kdump kernel probes: {write:?}, \
             B1 first mismatch {mismatch:?}"
        ),
    );

    // The kdump kernel: a fresh HAL on region C, kdump flag set, writes recorded.
    let log: &'static WriteLog = Box::leak(Box::new(WriteLog::new()));
    // SAFETY: as in `kernel1`; `c` is a part of `dma1` kernel 1 never used (its memory is
    // disjoint from kernel 1's region A), which is what `kdump = true` requires.
    let hal =
        unsafe { QemuHal::new(ctx.regs, c, ctx.ram, true, Some(ctx.coherent)) }.with_write_log(log);
    let (features, options) = match smmu_v3_driver::probe(&hal, &Config::default()) {
        Ok(p) => p,
        Err(e) => {
            checks.check("kdump-probe", false, format_args!("{e}"));
            return;
        }
    };
    checks.check(
        "kdump-probe",
        options.kdump && options.adopt == Some(AdoptSource::Kdump) && log.total() == 0,
        format_args!(
            "is_kdump_kernel, CR0.SMMUEN = 1, coherent, no SFM: adopt option {:?}, kdump {}, \
             decision {:?}; {} register writes",
            options.adopt,
            options.kdump,
            options.adoption,
            log.total()
        ),
    );
    let smmu = match SmmuV3::new(hal, features, options) {
        Ok(s) => s,
        Err(e) => {
            checks.check("adopted", false, format_args!("SmmuV3::new: {e}"));
            return;
        }
    };
    let adopted = smmu.adoption()
        == AdoptionOutcome::Adopted {
            source: AdoptSource::Kdump,
        }
        && smmu.strtab_source() == StrtabSource::Adopted(AdoptSource::Kdump)
        && smmu.stream_table().base_pa().0 == strtab_addr(k1.strtab_base);
    checks.check(
        "adopted",
        adopted && log.total() == 0,
        format_args!(
            "adoption {:?}, stream table {:?} at {:#x} (kernel 1's), {:?}; region C {} used {} \
             bytes (queues), {} register writes",
            smmu.adoption(),
            smmu.strtab_source(),
            smmu.stream_table().base_pa().0,
            smmu.stream_table().geometry().format(),
            Span(c),
            c.used(),
            log.total()
        ),
    );
    if !adopted {
        return;
    }
    let mut core: Core = IommuCore::new(smmu, DefaultDomainKind::Dma);
    let reset = core.driver_mut().reset();
    let cr0ack = Cr0::from_bits_retain(ctx.regs.read32(offset::CR0ACK));
    let queues = Cr0::SMMUEN | Cr0::CMDQEN | Cr0::EVENTQEN | Cr0::PRIQEN;
    let base = ctx.regs.read64(offset::STRTAB_BASE);
    let cfg = ctx.regs.read32(offset::STRTAB_BASE_CFG);
    checks.check(
        "adopt-reset",
        reset.is_ok()
            && cr0ack & queues == Cr0::SMMUEN | Cr0::CMDQEN
            && base == k1.strtab_base
            && cfg == k1.strtab_base_cfg,
        format_args!(
            "{reset:?}; CR0ACK {:#x} (SMMUEN + CMDQEN, no event / PRI queue), STRTAB_BASE \
             {base:#x} / STRTAB_BASE_CFG {cfg:#x} read back (kernel 1: {:#x} / {:#x}), \
             CMDQ_BASE {:#x}",
            cr0ack.bits(),
            k1.strtab_base,
            k1.strtab_base_cfg,
            ctx.regs.read64(offset::CMDQ_BASE)
        ),
    );
    let writes = Writes::of(log);
    checks.check(
        "adopt-reset-writes",
        writes.adopt_ok(),
        format_args!(
            "{writes}: SMMUEN set in every CR0 write, no GBPA / CR1 / CR2 / STRTAB_BASE(_CFG) / \
             event or PRI queue write, IRQ_CTRL = GERROR only"
        ),
    );
    if reset.is_err() {
        return;
    }
    let (stage2, k1_id) = k1.id;
    let what = if stage2 { "VMID" } else { "ASID" };
    checks.check(
        "k1-id-reserved",
        core.driver().id_in_use(stage2, k1_id),
        format_args!("kernel 1's {what} {k1_id} is reserved by the adoption scan"),
    );

    // The device is probed: deferred on its live STE (kdump.md §10, §11).
    let sids = ctx.sids();
    let probed = core.probe_device(ctx.desc(&sids));
    let deferred = core.is_attach_deferred(ctx.dev);
    let info = core.device(ctx.dev);
    let kind = info
        .as_ref()
        .ok()
        .and_then(|i| core.domain_kind(i.domain).ok());
    let ste = ctx.ste(&core);
    checks.check(
        "deferred",
        probed.is_ok()
            && matches!(deferred, Ok(true))
            && info.as_ref().is_ok_and(|i| i.attached_domain.is_none())
            && kind == Some(DomainKind::Dma)
            && ste == Some(k1.ste),
        format_args!(
            "probe_device {probed:?}; is_attach_deferred {deferred:?}; current domain {kind:?}, \
             attached {:?}; STE dw0 {:#x} unchanged from kernel 1's: {}",
            info.as_ref().ok().and_then(|i| i.attached_domain),
            ste.map_or(0, |s| s[0]),
            ste == Some(k1.ste)
        ),
    );
    let changed = snapshot.changed();
    checks.check(
        "k1-memory-intact",
        changed.is_empty(),
        format_args!(
            "kernel 1's region A: {} bytes handed out (B1 excluded), {} words changed by the \
             kdump kernel's probe, reset and device probe",
            snapshot.bytes(),
            changed.len()
        ),
    );

    // DMA during the handover, both directions, through kernel 1's tables.
    let seed = 0x52;
    k1.b1.fill_pattern(seed);
    // SAFETY: IOVA maps B1 in the adopted tables (or faults); B1 is owned here.
    let read = unsafe { ctx.edu.dma_from_ram(IOVA, 0, LEN) };
    k1.b1.fill(0);
    // SAFETY: as above.
    let write = unsafe { ctx.edu.dma_to_ram(0, IOVA, LEN) };
    let mismatch = k1.b1.first_mismatch(0..LEN as usize, |i| pattern(seed, i));
    let still = core.is_attach_deferred(ctx.dev);
    checks.check(
        "handover-dma",
        read.is_ok() && write.is_ok() && mismatch.is_none() && matches!(still, Ok(true)),
        format_args!(
            "device deferred, nothing mapped by the kdump kernel: B1 -> edu -> IOVA {IOVA:#x}: \
             {read:?} / {write:?}, lands in kernel 1's B1 {:#x} (first mismatch {mismatch:?}); \
             still deferred {still:?}",
            k1.b1.pa()
        ),
    );

    // The kdump kernel's driver maps its own buffer: the deferred attach (§11.3, §12).
    let Some(b2) = DmaBuffer::new(c, PAGE) else {
        checks.check("deferred-attach", false, format_args!("region C exhausted"));
        return;
    };
    let rw = Prot::READ | Prot::WRITE | Prot::CACHE;
    let mapped = core.dma_map(
        ctx.dev,
        Iova(IOVA),
        iommu_core::PhysAddr(b2.pa()),
        PAGE as u64,
        rw,
    );
    let deferred = core.is_attach_deferred(ctx.dev);
    let info = core.device(ctx.dev);
    let back = core.iova_to_phys(ctx.dev, Iova(IOVA));
    checks.check(
        "deferred-attach",
        mapped.is_ok()
            && matches!(deferred, Ok(false))
            && info
                .as_ref()
                .is_ok_and(|i| i.attached_domain == Some(i.domain))
            && matches!(back, Ok(Some(pa)) if pa.0 == b2.pa()),
        format_args!(
            "dma_map IOVA {IOVA:#x} -> B2 {:#x} (region C): {mapped:?}; is_attach_deferred \
             {deferred:?}; attached {:?}; iova_to_phys {back:x?}",
            b2.pa(),
            info.as_ref().ok().and_then(|i| i.attached_domain),
        ),
    );

    // The STE now: rewritten in place in kernel 1's L2 table, pointing into region C.
    let ste = ctx.ste(&core).map(Ste::from_words);
    let ste_pa = core
        .driver()
        .stream_table()
        .ste(smmu_regs::StreamId(ctx.sid))
        .map(|s| s.pa().0)
        .ok();
    let new_id = domain_id(&core, ctx.dev);
    let (points, tables) = match (stage, ste) {
        (Stage::Stage1, Some(s)) => {
            let ctx_ptr = s.s1_context_ptr().0;
            let cd = read_cd(c, ctx_ptr);
            let ttb0 = cd.map(|cd| cd.ttb0().0);
            let asid = cd.map(|cd| u32::from(cd.asid().0));
            (
                s.is_valid()
                    && s.config() == SteConfig::S1Trans
                    && cd.is_some_and(|cd| cd.is_valid())
                    && ttb0.is_some_and(|t| in_region(c, t, 8))
                    && asid.is_some_and(|a| a != k1_id)
                    && new_id == asid.map(|a| (false, a)),
                format!(
                    "Config S1Trans {}, S1ContextPtr {ctx_ptr:#x} (CD in region C: {}), CD ASID \
                     {asid:?}, TTB0 {:#x}",
                    s.config() == SteConfig::S1Trans,
                    cd.is_some(),
                    ttb0.unwrap_or(0)
                ),
            )
        }
        (Stage::Stage2, Some(s)) => {
            let ttb = s.s2ttb().0;
            let vmid = u32::from(s.s2vmid().0);
            (
                s.is_valid()
                    && s.config() == SteConfig::S2Trans
                    && in_region(c, ttb, 8)
                    && vmid != k1_id
                    && new_id == Some((true, vmid)),
                format!(
                    "Config S2Trans {}, S2TTB {ttb:#x}, VMID {vmid}",
                    s.config() == SteConfig::S2Trans
                ),
            )
        }
        (_, None) => (false, "no STE".into()),
    };
    let in_place = ste_pa.is_some_and(|pa| in_region(a, pa, 64));
    checks.check(
        "ste-in-kdump-memory",
        points && in_place,
        format_args!(
            "STE at {:#x} (in kernel 1's L2 table, rewritten in place: {in_place}): {tables}; \
             region C {}; new {what} differs from kernel 1's {k1_id}",
            ste_pa.unwrap_or(0),
            Span(c)
        ),
    );
    let changed = snapshot.changed();
    let ste_range = ste_pa.map_or(0..0, |pa| pa as usize..pa as usize + 64);
    checks.check(
        "k1-memory-only-ste-rewritten",
        !changed.is_empty() && changed.iter().all(|w| ste_range.contains(w)),
        format_args!(
            "region A after the attach: {} word(s) changed, at {}, all inside STE[{:#x}] \
             {:#x}..{:#x}",
            changed.len(),
            Addrs(&changed),
            ctx.sid,
            ste_range.start,
            ste_range.end
        ),
    );

    // DMA now lands in B2, never in B1.
    let seed = 0x73;
    k1.b1.fill(0x5a);
    b2.fill_pattern(seed);
    // SAFETY: IOVA maps B2 now; B1 and B2 are owned here and accessed only by volatile byte
    // accesses.
    let read = unsafe { ctx.edu.dma_from_ram(IOVA, 0, LEN) };
    b2.fill(0);
    // SAFETY: as above.
    let write = unsafe { ctx.edu.dma_to_ram(0, IOVA, LEN) };
    let mismatch = b2.first_mismatch(0..LEN as usize, |i| pattern(seed, i));
    let b1_hit = k1.b1.first_mismatch(0..PAGE, |_| 0x5a);
    checks.check(
        "dma-lands-in-b2",
        read.is_ok() && write.is_ok() && mismatch.is_none() && b1_hit.is_none(),
        format_args!(
            "B2 -> edu -> IOVA {IOVA:#x}: {read:?} / {write:?}; B2 first mismatch {mismatch:?}; \
             B1 touched at {b1_hit:?}"
        ),
    );
    let writes = Writes::of(log);
    let cr0ack = Cr0::from_bits_retain(ctx.regs.read32(offset::CR0ACK));
    let gerror = core.driver().handle_gerror();
    checks.check(
        "smmu-stayed-enabled",
        writes.adopt_ok()
            && cr0ack.contains(Cr0::SMMUEN)
            && matches!(gerror, Ok(g) if g.is_empty()),
        format_args!(
            "whole kdump kernel: {} register writes, {} clearing SMMUEN, {} forbidden; CR0ACK \
             {:#x}; GERROR {gerror:?}",
            writes.total,
            writes.disables(),
            writes.forbidden.len(),
            cr0ack.bits()
        ),
    );
    // This kdump kernel is left running too; the next variant's kernel 1 takes over.
    core::mem::forget(core);
}

/// A DMA issued from inside the driver's reset, right after the first CR0 write that
/// clears SMMUEN: what in-flight DMA meets in the fallback's disable window.
struct WindowProbe {
    edu: Edu,
    /// The bus address the edu writes (kernel 1's IOVA, also the decoy page's PA).
    bus: u64,
    fired: AtomicBool,
    /// 0: not run, 1: the transfer completed, 2: the edu refused or timed out.
    result: AtomicU8,
}

impl WindowProbe {
    fn on_write(&self, off: usize, value: u64) {
        if off != offset::CR0
            || value & u64::from(Cr0::SMMUEN.bits()) != 0
            || self.fired.swap(true, Ordering::AcqRel)
        {
            return;
        }
        // SAFETY: `bus` is both kernel 1's IOVA of B1 and the physical address of the
        // decoy page D: whether the SMMU translates with kernel 1's tables, bypasses or
        // aborts, the device writes only B1 or D, DMA buffers `fallback_variant` owns and
        // does not access until the reset returns.
        let r = unsafe { self.edu.dma_to_ram(0, self.bus, LEN) };
        self.result
            .store(if r.is_ok() { 1 } else { 2 }, Ordering::Release);
    }
}

/// The handover without adoption (`Config::adopt = false`): the old full reset.
fn fallback_variant(
    ctx: &Ctx,
    checks: &mut Checks<'_>,
    stage: Stage,
    a: &'static Bump,
    c: &'static Bump,
) {
    // The decoy page D, allocated first in region A. If the edu can address it, kernel 1
    // uses D's physical address as the IOVA of B1, so that a DMA that bypasses the SMMU
    // lands in D, one translated by kernel 1's tables lands in B1, an aborted one nowhere.
    let Some(decoy) = DmaBuffer::new(a, PAGE) else {
        checks.check("k1", false, format_args!("region A exhausted"));
        return;
    };
    let window = (decoy.pa() + PAGE as u64 - 1) & !ctx.dma_mask == 0;
    let iova = if window { decoy.pa() } else { IOVA };
    let Some(k1) = kernel1(ctx, checks, stage, a, iova) else {
        return;
    };
    decoy.fill(0);
    k1.b1.fill(0);

    let log: &'static WriteLog = Box::leak(Box::new(WriteLog::new()));
    // SAFETY: as in `adopt_variant`: region C is disjoint from kernel 1's region A.
    let mut hal =
        unsafe { QemuHal::new(ctx.regs, c, ctx.ram, true, Some(ctx.coherent)) }.with_write_log(log);
    let probe: &'static WindowProbe = Box::leak(Box::new(WindowProbe {
        edu: ctx.edu,
        bus: iova,
        fired: AtomicBool::new(false),
        result: AtomicU8::new(0),
    }));
    if window {
        let hook: &'static WriteHook = Box::leak(Box::new(move |off, value| {
            probe.on_write(off, value);
        }));
        // SAFETY: the hook only starts an edu DMA and waits for it: it touches no SMMU
        // register, and the device writes B1 or D (see `WindowProbe::on_write`), never the
        // driver's tables or queues.
        hal = unsafe { hal.with_write_hook(hook) };
    }
    let mut config = Config::default();
    config.adopt = false;
    let (features, options) = match smmu_v3_driver::probe(&hal, &config) {
        Ok(p) => p,
        Err(e) => {
            checks.check("fell-back", false, format_args!("probe: {e}"));
            return;
        }
    };
    let smmu = match SmmuV3::new(hal, features, options) {
        Ok(s) => s,
        Err(e) => {
            checks.check("fell-back", false, format_args!("SmmuV3::new: {e}"));
            return;
        }
    };
    let fresh_base = smmu.stream_table().base_pa().0;
    checks.check(
        "fell-back",
        smmu.adoption() == AdoptionOutcome::FellBack(FallbackReason::DisabledByConfig)
            && smmu.strtab_source() == StrtabSource::Fresh
            && smmu.options().kdump
            && in_region(c, fresh_base, 64),
        format_args!(
            "adoption {:?}, stream table {:?} at {fresh_base:#x} (region C {}), kdump {}",
            smmu.adoption(),
            smmu.strtab_source(),
            Span(c),
            smmu.options().kdump
        ),
    );
    let mut core: Core = IommuCore::new(smmu, DefaultDomainKind::Dma);
    let reset = core.driver_mut().reset();
    let writes = Writes::of(log);
    let base = ctx.regs.read64(offset::STRTAB_BASE);
    let cr0ack = Cr0::from_bits_retain(ctx.regs.read32(offset::CR0ACK));
    let gbpa = Gbpa::from(ctx.regs.read32(offset::GBPA));
    let gbpa_abort_written = writes.gbpa.iter().any(|&v| Gbpa::from(v as u32).abort());
    checks.check(
        "full-reset",
        reset.is_ok()
            && gbpa_abort_written
            && writes.disables() > 0
            && writes.strtab_base
            && strtab_addr(base) == fresh_base
            && base != k1.strtab_base
            && cr0ack.contains(Cr0::SMMUEN | Cr0::CMDQEN)
            && !cr0ack.contains(Cr0::EVENTQEN),
        format_args!(
            "{reset:?}: {writes}; GBPA reads {:#x} afterwards; STRTAB_BASE {base:#x} (kernel 1: \
             {:#x}); CR0ACK {:#x}",
            u32::from(gbpa),
            k1.strtab_base,
            cr0ack.bits()
        ),
    );
    if window {
        let result = probe.result.load(Ordering::Acquire);
        let in_d = decoy.first_mismatch(0..LEN as usize, |i| pattern(K1_SEED, i));
        let d_untouched = decoy.first_mismatch(0..PAGE, |_| 0).is_none();
        let b1_untouched = k1.b1.first_mismatch(0..PAGE, |_| 0).is_none();
        // With GBPA.ABORT honoured the window aborts; without GBPA (QEMU 7.2) it bypasses.
        let expected = if gbpa.abort() {
            d_untouched
        } else {
            in_d.is_none()
        };
        if !gbpa.abort() && in_d.is_none() {
            println!(
                "NOTE: the DMA issued while the fallback reset had the SMMU disabled bypassed \
                 it and wrote PA {iova:#x} (decoy D) untranslated: QEMU 7.2 has no GBPA, so \
                 the driver's GBPA.ABORT does not close the window (kdump.md §1)"
            );
        }
        checks.check(
            "disable-window",
            result == 1 && b1_untouched && expected,
            format_args!(
                "edu -> bus {iova:#x} right after the CR0 write clearing SMMUEN (result {result}): \
                 kernel 1's B1 untouched {b1_untouched}; decoy D at PA {iova:#x} received it \
                 {} (GBPA.ABORT reads {})",
                in_d.is_none(),
                gbpa.abort()
            ),
        );
    } else {
        println!(
            "NOTE: disable-window DMA not run: the edu dma_mask {:#x} does not reach RAM, so a \
             bus address that bypasses the SMMU could not be observed",
            ctx.dma_mask
        );
    }
    if reset.is_err() {
        return;
    }

    let sids = ctx.sids();
    let probed = core.probe_device(ctx.desc(&sids));
    let deferred = core.is_attach_deferred(ctx.dev);
    let info = core.device(ctx.dev);
    let table = ctx
        .ste(&core)
        .map(Ste::from_words)
        .and_then(|s| ste_table(&s));
    checks.check(
        "not-deferred",
        probed.is_ok()
            && matches!(deferred, Ok(false))
            && info
                .as_ref()
                .is_ok_and(|i| i.attached_domain == Some(i.domain))
            && table.is_some_and(|(_, ptr)| in_region(c, ptr, 8)),
        format_args!(
            "probe_device {probed:?}; is_attach_deferred {deferred:?}; attached at once, STE \
             {:?} -> {:#x} in region C",
            table.map(|t| t.0),
            table.map_or(0, |t| t.1)
        ),
    );

    // Kernel 1's mapping is gone: the device's DMA to the old IOVA faults (silently: a
    // kdump kernel has no event queue).
    decoy.fill(0);
    k1.b1.fill(0);
    // SAFETY: the reset succeeded, so the SMMU is enabled on the kdump kernel's fresh
    // table, where the edu's STE is abort or its empty DMA domain: the write faults. Were
    // kernel 1's tables still in use it would reach B1, owned here.
    let write = unsafe { ctx.edu.dma_to_ram(0, iova, LEN) };
    let b1_hit = k1.b1.first_mismatch(0..PAGE, |_| 0);
    let d_hit = decoy.first_mismatch(0..PAGE, |_| 0);
    checks.check(
        "old-mapping-gone",
        write.is_ok() && b1_hit.is_none() && d_hit.is_none(),
        format_args!(
            "edu -> IOVA {iova:#x}: {write:?}; B1 written at {b1_hit:?}, D written at {d_hit:?} \
             (the fault is not recorded: no event queue in a kdump kernel)"
        ),
    );

    let Some(b2) = DmaBuffer::new(c, PAGE) else {
        checks.check("remap-dma", false, format_args!("region C exhausted"));
        return;
    };
    let rw = Prot::READ | Prot::WRITE | Prot::CACHE;
    let mapped = core.dma_map(
        ctx.dev,
        Iova(iova),
        iommu_core::PhysAddr(b2.pa()),
        PAGE as u64,
        rw,
    );
    // SAFETY: the IOVA maps B2 now; B1, B2 and D are owned here.
    let write = unsafe { ctx.edu.dma_to_ram(0, iova, LEN) };
    let mismatch = b2.first_mismatch(0..LEN as usize, |i| pattern(K1_SEED, i));
    let b1_hit = k1.b1.first_mismatch(0..PAGE, |_| 0);
    checks.check(
        "remap-dma",
        mapped.is_ok() && write.is_ok() && mismatch.is_none() && b1_hit.is_none(),
        format_args!(
            "dma_map IOVA {iova:#x} -> B2 {:#x}: {mapped:?}; edu -> IOVA: {write:?}, B2 first \
             mismatch {mismatch:?}, B1 touched at {b1_hit:?}",
            b2.pa()
        ),
    );
    core::mem::forget(core);
}

/// Whether QEMU takes a STRTAB_BASE write while SMMUEN = 1 (spec v3.2: ignored; v3.0 /
/// v3.1: CONSTRAINED UNPREDICTABLE). Writes the live value with the RA hint (bit 62)
/// toggled, so the table address never changes, then restores it.
fn strtab_base_guard(regs: &Mmio, report: &mut Report) {
    let cr0ack = Cr0::from_bits_retain(regs.read32(offset::CR0ACK));
    if !cr0ack.contains(Cr0::SMMUEN) {
        return;
    }
    let before = regs.read64(offset::STRTAB_BASE);
    regs.write64(offset::STRTAB_BASE, before ^ (1 << 62));
    let during = regs.read64(offset::STRTAB_BASE);
    regs.write64(offset::STRTAB_BASE, before);
    let after = regs.read64(offset::STRTAB_BASE);
    let latched = during != before;
    if latched {
        println!(
            "DEVIATION: QEMU took a STRTAB_BASE write while SMMUEN = 1 ({before:#x} -> \
             {during:#x}); SMMUv3.2 ignores it (v3.1, which AIDR reports, leaves it \
             CONSTRAINED UNPREDICTABLE). Nothing stops a kdump kernel from moving the stream \
             table on QEMU: that the adopt-mode reset does not is shown by its recorded writes"
        );
    }
    report.check(
        "s2-qemu-strtab-base-unguarded",
        after == before,
        format_args!(
            "STRTAB_BASE {before:#x}, after a write with RA toggled {during:#x} (latched \
             {latched}), restored {after:#x}"
        ),
    );
}
