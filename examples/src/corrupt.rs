//! The `corrupt-table` scenario: the kdump kernel meets a corrupted stream table.
//!
//! Kernel 1 sets up two devices with DMA running — `A` (StreamID 0x10, L1 index 0,
//! stage-1 DMA domain) and `B` (StreamID 0x310, L1 index 3, stage-2 DMA domain) — and
//! crashes. A [`Corruption`] is then applied, the way a crash can leave things: a word of
//! kernel 1's table memory scribbled, or (for the register rules, which memory cannot
//! break) a register value the kdump kernel reads that no correct kernel 1 could have
//! left, injected as a read override in the kdump kernel's HAL. The kdump kernel probes
//! the SMMU: every adoption rule the corruption breaks (kdump.md §4.2–§4.4, §6) makes it
//! fall back to the full reset, with a typed [`FallbackReason`]; a corruption that only
//! appears after adoption (§5) rejects the one device whose L2 table is bad. Then each
//! device's driver maps new buffers and runs DMA again, and the report shows what
//! happened to the DMA in each phase.

use std::fmt::{self, Write as _};
use std::time::Duration;

use iommu_core::{DefaultDomainKind, DeviceDesc, DeviceId, IommuCore, Iova, PhysAddr, StreamId};
use smmu_testbed::Testbed;
use smmu_testbed::smmu_model::{ModelConfig, RegionKind};
use smmu_v3_driver::pgtable::Stage;
use smmu_v3_driver::{AdoptionOutcome, Diagnostic, FallbackReason};

use crate::cli::{self, ArgError, Args};
use crate::kdump::{
    DeviceDomain, IOVA, PAGE, RING, RW, RunError, STRTAB_BASE, describe_strtab, domain_ids, fail,
    ring_writer, ste_domain,
};
use crate::live::{self, LiveDevice, Pace, PhaseCounts};
use crate::{AFTER_REATTACH, BEFORE_CRASH, Core, DURING_HANDOVER, small_config};

/// StreamID of device A (L1 index 0, stage-1 DMA domain).
pub const SID_A: u32 = 0x10;
/// StreamID of device B (L1 index 3, stage-2 DMA domain).
pub const SID_B: u32 = 0x310;

const STRTAB_BASE_CFG: usize = 0x88;
/// Transactions per device before the crash and during the handover (each at least).
const PHASE_TRANSACTIONS: u64 = 300;
/// Transactions per device after re-attach.
const AFTER_TRANSACTIONS: u64 = 64;
const DEADLINE: Duration = Duration::from_secs(60);

/// One way the kdump kernel can find the stream table broken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Corruption {
    /// STRTAB_BASE_CFG.FMT reads as the reserved value 2.
    BadStrtabBaseCfg,
    /// STRTAB_BASE_CFG.LOG2SIZE reads as 17, above IDR1.SIDSIZE (16).
    Log2SizeAboveSidSize,
    /// STRTAB_BASE_CFG.SPLIT reads as 7 (the driver's split is 8; 7 is not even an
    /// architected value).
    SplitNot8,
    /// STRTAB_BASE reads 64 bytes past the real L1 table (not aligned to its 2 KiB size).
    BaseMisaligned,
    /// B's L1 descriptor (index 3) gets Span 12.
    L1SpanTooBig,
    /// B's L1 descriptor keeps Span 9 but loses its L2 pointer.
    L1NullL2,
    /// B's L1 descriptor points 4 KiB into its L2 table (not 16 KiB aligned).
    L1L2Misaligned,
    /// B's L1 descriptor points at a well-formed address outside RAM.
    L1AddressOutOfRange,
    /// B's STE gets the reserved Config 0b001.
    SteBadConfig,
    /// A's STE (stage 1) loses its S1ContextPtr.
    SteNullContext,
    /// A's STE gets S1CDMax 9, above IDR1.SSIDSIZE (8).
    SteCdMaxTooBig,
    /// A's context descriptor gets ASID 0.
    CdAsidZero,
    /// B's STE (stage 2) gets S2VMID 0.
    SteVmidZero,
    /// B's L1 descriptor goes bad *after* the kdump kernel adopted the table (for
    /// example scribbled by in-flight DMA): found when B is probed.
    L1CorruptedAfterAdoption,
}

impl Corruption {
    /// Every corruption, in the order `--list` shows them.
    pub const ALL: [Self; 14] = [
        Self::BadStrtabBaseCfg,
        Self::Log2SizeAboveSidSize,
        Self::SplitNot8,
        Self::BaseMisaligned,
        Self::L1SpanTooBig,
        Self::L1NullL2,
        Self::L1L2Misaligned,
        Self::L1AddressOutOfRange,
        Self::SteBadConfig,
        Self::SteNullContext,
        Self::SteCdMaxTooBig,
        Self::CdAsidZero,
        Self::SteVmidZero,
        Self::L1CorruptedAfterAdoption,
    ];

    /// The default of `--corruption`.
    pub const DEFAULT: Self = Self::L1SpanTooBig;

    /// The name used on the command line.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::BadStrtabBaseCfg => "bad-strtab-base-cfg",
            Self::Log2SizeAboveSidSize => "log2size-above-sidsize",
            Self::SplitNot8 => "split-not-8",
            Self::BaseMisaligned => "base-misaligned",
            Self::L1SpanTooBig => "l1-span-too-big",
            Self::L1NullL2 => "l1-null-l2",
            Self::L1L2Misaligned => "l1-l2-misaligned",
            Self::L1AddressOutOfRange => "l1-address-out-of-range",
            Self::SteBadConfig => "ste-bad-config",
            Self::SteNullContext => "ste-null-context",
            Self::SteCdMaxTooBig => "ste-cdmax-too-big",
            Self::CdAsidZero => "cd-asid-zero",
            Self::SteVmidZero => "ste-vmid-zero",
            Self::L1CorruptedAfterAdoption => "l1-corrupted-after-adoption",
        }
    }

    /// What is corrupted.
    #[must_use]
    pub const fn what(self) -> &'static str {
        match self {
            Self::BadStrtabBaseCfg => "STRTAB_BASE_CFG.FMT reads 0b10, a reserved format",
            Self::Log2SizeAboveSidSize => {
                "STRTAB_BASE_CFG.LOG2SIZE reads 17 on an SMMU with 16 StreamID bits"
            }
            Self::SplitNot8 => "STRTAB_BASE_CFG.SPLIT reads 7",
            Self::BaseMisaligned => "STRTAB_BASE reads 0x40 past the 2 KiB-aligned L1 table",
            Self::L1SpanTooBig => "device B's L1 descriptor (index 3) gets Span 12",
            Self::L1NullL2 => "device B's L1 descriptor keeps Span 9 but its L2Ptr becomes 0",
            Self::L1L2Misaligned => "device B's L1 descriptor L2Ptr moves 4 KiB into its L2 table",
            Self::L1AddressOutOfRange => {
                "device B's L1 descriptor L2Ptr points at 0x40_0000_0000, outside RAM"
            }
            Self::SteBadConfig => "device B's STE gets Config 0b001 (reserved)",
            Self::SteNullContext => "device A's stage-1 STE loses its S1ContextPtr",
            Self::SteCdMaxTooBig => "device A's STE gets S1CDMax 9 on an SMMU with SSIDSIZE 8",
            Self::CdAsidZero => "device A's context descriptor gets ASID 0",
            Self::SteVmidZero => "device B's stage-2 STE gets S2VMID 0",
            Self::L1CorruptedAfterAdoption => {
                "device B's L1 descriptor loses its L2Ptr after the kdump kernel adopted the \
                 table, before B is probed"
            }
        }
    }

    /// The rule of kdump.md that applies.
    #[must_use]
    pub const fn rule(self) -> &'static str {
        match self {
            Self::BadStrtabBaseCfg => {
                "§4.4: any FMT other than linear or 2-level is rejected -> full reset"
            }
            Self::Log2SizeAboveSidSize => {
                "§4.2 step 2: SPLIT <= LOG2SIZE <= IDR1.SIDSIZE -> else full reset"
            }
            Self::SplitNot8 => "§4.2 step 3: SPLIT must be the driver's 8 -> else full reset",
            Self::BaseMisaligned => {
                "§4.2 step 5: the L1 base must be aligned to max(L1 size, 64) -> else full reset"
            }
            Self::L1SpanTooBig => {
                "§4.2 step 8: a used L1 descriptor must have Span 9 -> else full reset"
            }
            Self::L1NullL2 => {
                "§4.2 step 8: a used L1 descriptor needs a non-zero L2 pointer -> else full reset"
            }
            Self::L1L2Misaligned => {
                "§4.2 step 8: the L2 pointer must be 16 KiB aligned -> else full reset"
            }
            Self::L1AddressOutOfRange => {
                "§4.5: physical ranges are not validated, but the §6 scan maps every used L2 \
                 table; a mapping failure is an adopt-time failure -> full reset"
            }
            Self::SteBadConfig => {
                "§6: a valid STE with any other Config fails the scan -> full reset"
            }
            Self::SteNullContext => "§6: S1_TRANS needs a non-zero S1ContextPtr -> else full reset",
            Self::SteCdMaxTooBig => "§6: S1CDMax must be <= SSIDSIZE -> else full reset",
            Self::CdAsidZero => "§6: a valid CD's ASID must be non-zero -> else full reset",
            Self::SteVmidZero => "§6: S2VMID must be non-zero -> else full reset",
            Self::L1CorruptedAfterAdoption => {
                "§5: a bad L1 descriptor found at device insert fails only that device's probe; \
                 the SMMU stays enabled and the other devices hand over. What happens to the \
                 rejected device's DMA is unspecified (§18): here it depends on whether the \
                 SMMU still caches the old L1 descriptor"
            }
        }
    }

    /// Whether the corruption is a register value (injected as a HAL read override)
    /// rather than memory.
    #[must_use]
    pub const fn is_register(self) -> bool {
        matches!(
            self,
            Self::BadStrtabBaseCfg
                | Self::Log2SizeAboveSidSize
                | Self::SplitNot8
                | Self::BaseMisaligned
        )
    }

    /// Looks a corruption up by [`name`](Self::name).
    #[must_use]
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.name() == name)
    }
}

impl fmt::Display for Corruption {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What happened to one device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CorruptDevice {
    /// The device.
    pub id: DeviceId,
    /// Its StreamID.
    pub sid: u32,
    /// The domain kernel 1 gave it.
    pub domain: DeviceDomain,
    /// The kdump kernel's probe of the device: whether its attach was deferred, or the
    /// error that failed the probe.
    pub probe: Result<bool, iommu_core::Error<smmu_v3_driver::Error>>,
    /// Whether its driver re-attached it and every write after that landed in the new
    /// buffers.
    pub reattached: bool,
    /// Its ledger, per phase.
    pub counts: PhaseCounts,
    /// How its transactions during the handover ended (see
    /// [`LiveDevice::outcomes_in`]).
    pub handover_outcomes: Vec<(String, u64)>,
}

/// The result of one `corrupt-table` run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CorruptReport {
    /// The corruption.
    pub corruption: Corruption,
    /// What the kdump kernel's driver did with the table.
    pub adoption: AdoptionOutcome,
    /// The driver's diagnostics during the kdump kernel's SMMU probe.
    pub diagnostics: Vec<Diagnostic>,
    /// The two devices, A then B.
    pub devices: Vec<CorruptDevice>,
}

impl CorruptReport {
    /// Why the kdump kernel fell back to the full reset, if it did.
    #[must_use]
    pub const fn fallback_reason(&self) -> Option<FallbackReason> {
        self.adoption.fallback_reason()
    }

    /// The per-device table.
    #[must_use]
    pub fn table(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "  {:>3}  {:<8}  {:<8}  {:<26}  {:>12}  {:>15}  {:>15}  {:>7}  {:>7}  {:>11}",
            "dev",
            "StreamID",
            "domain",
            "kdump-kernel probe",
            "before crash",
            "during handover",
            "after re-attach",
            "faulted",
            "aborted",
            "misdirected"
        );
        for d in &self.devices {
            let probe = match &d.probe {
                Ok(true) => "deferred".to_owned(),
                Ok(false) => "attached at probe".to_owned(),
                Err(iommu_core::Error::Driver(e)) => format!("FAILED: {}", variant(e)),
                Err(e) => format!("FAILED: {}", variant(e)),
            };
            let t = d.counts.total();
            let _ = writeln!(
                s,
                "  {:>3}  {:<8}  {:<8}  {:<26}  {:>12}  {:>15}  {:>15}  {:>7}  {:>7}  {:>11}",
                d.id.0,
                format!("{:#06x}", d.sid),
                d.domain.label(),
                probe,
                d.counts.before_crash.total(),
                d.counts.during_handover.total(),
                d.counts.after_reattach.total(),
                t.faulted,
                t.aborted,
                t.misdirected
            );
        }
        for d in &self.devices {
            let list: Vec<String> = d
                .handover_outcomes
                .iter()
                .map(|(k, n)| format!("{n} {k}"))
                .collect();
            let _ = writeln!(
                s,
                "  dev {} during the handover: {}",
                d.id.0,
                if list.is_empty() {
                    "no DMA".to_owned()
                } else {
                    list.join(", ")
                }
            );
        }
        s
    }
}

/// The variant name of a value's `Debug` form (`AdoptedL2Rejected { .. }` ->
/// `AdoptedL2Rejected`).
fn variant(e: &impl fmt::Debug) -> String {
    let full = format!("{e:?}");
    full.split([' ', '(', '{'])
        .next()
        .unwrap_or_default()
        .to_owned()
}

fn l1_desc_pa(tb: &Testbed, sid: u32) -> u64 {
    (tb.smmu.read64(STRTAB_BASE) & 0x000f_ffff_ffff_ffc0) + u64::from(sid >> 8) * 8
}

fn ste_pa(tb: &Testbed, sid: u32) -> Result<u64, RunError> {
    let desc = tb
        .mem
        .read_u64(l1_desc_pa(tb, sid))
        .map_err(|e| fail("reading an L1 descriptor", e))?;
    Ok((desc & 0x000f_ffff_ffff_ffc0) + u64::from(sid & 0xff) * 64)
}

/// Rewrites the 64-bit word at `pa` with `f(old)`; returns a line for the timeline.
fn scribble(tb: &Testbed, what: &str, pa: u64, f: impl Fn(u64) -> u64) -> Result<String, RunError> {
    let old = tb
        .mem
        .read_u64(pa)
        .map_err(|e| fail(format_args!("reading {what}"), e))?;
    let new = f(old);
    tb.mem
        .write_u64(pa, new)
        .map_err(|e| fail(format_args!("writing {what}"), e))?;
    Ok(format!("{what} at PA {pa:#x}: {old:#018x} -> {new:#018x}"))
}

/// Applies `c` (the memory words, or the register read overrides on the kdump kernel's
/// HAL `kd`). Field positions: Arm IHI0070 §3.4 (L1STD: Span 4:0, L2Ptr 51:6), §5.2
/// (STE dw0: V 0, Config 3:1, S1Fmt 5:4, S1ContextPtr 55:6, S1CDMax 63:59; dw2:
/// S2VMID 15:0), §5.4 (CD dw0: ASID 63:48), §6.3.24 (STRTAB_BASE_CFG: FMT 17:16,
/// SPLIT 10:6, LOG2SIZE 5:0).
fn apply(c: Corruption, tb: &Testbed, kd: &Testbed) -> Result<String, RunError> {
    const ADDR: u64 = 0x000f_ffff_ffff_ffc0;
    let two_level = |split: u32, log2: u32| (1 << 16) | (split << 6) | log2;
    let over = |offset: usize, value: u32, what: &str| {
        kd.hal.override_register(offset, value);
        Ok(format!(
            "the kdump kernel will read {what} = {value:#x} (injected as a HAL read override: \
             a register value no correct kernel 1 leaves)"
        ))
    };
    match c {
        Corruption::BadStrtabBaseCfg => over(STRTAB_BASE_CFG, (2 << 16) | 16, "STRTAB_BASE_CFG"),
        Corruption::Log2SizeAboveSidSize => {
            over(STRTAB_BASE_CFG, two_level(8, 17), "STRTAB_BASE_CFG")
        }
        Corruption::SplitNot8 => over(STRTAB_BASE_CFG, two_level(7, 16), "STRTAB_BASE_CFG"),
        Corruption::BaseMisaligned => {
            let base = tb.smmu.read64(STRTAB_BASE) + 0x40;
            over(STRTAB_BASE as usize, base as u32, "STRTAB_BASE[31:0]")
        }
        Corruption::L1SpanTooBig => scribble(tb, "B's L1 descriptor", l1_desc_pa(tb, SID_B), |d| {
            (d & !0x1f) | 12
        }),
        Corruption::L1NullL2 | Corruption::L1CorruptedAfterAdoption => {
            scribble(tb, "B's L1 descriptor", l1_desc_pa(tb, SID_B), |d| d & 0x1f)
        }
        Corruption::L1L2Misaligned => {
            scribble(tb, "B's L1 descriptor", l1_desc_pa(tb, SID_B), |d| {
                d + 0x1000
            })
        }
        Corruption::L1AddressOutOfRange => {
            scribble(tb, "B's L1 descriptor", l1_desc_pa(tb, SID_B), |d| {
                (d & !ADDR) | 0x40_0000_0000
            })
        }
        Corruption::SteBadConfig => scribble(tb, "B's STE word 0", ste_pa(tb, SID_B)?, |w| {
            (w & !0xe) | (1 << 1)
        }),
        Corruption::SteNullContext => scribble(tb, "A's STE word 0", ste_pa(tb, SID_A)?, |w| {
            w & !0x00ff_ffff_ffff_ffc0
        }),
        Corruption::SteCdMaxTooBig => scribble(tb, "A's STE word 0", ste_pa(tb, SID_A)?, |w| {
            (w & !(0x1f << 59)) | (9 << 59)
        }),
        Corruption::CdAsidZero => {
            let dw0 = tb
                .mem
                .read_u64(ste_pa(tb, SID_A)?)
                .map_err(|e| fail("reading A's STE", e))?;
            if (dw0 >> 59) != 0 {
                return Err(RunError(
                    "A's STE has substreams: the CD is not at S1ContextPtr".to_owned(),
                ));
            }
            scribble(tb, "A's CD word 0", dw0 & 0x00ff_ffff_ffff_ffc0, |w| {
                w & 0x0000_ffff_ffff_ffff
            })
        }
        Corruption::SteVmidZero => scribble(tb, "B's STE word 2", ste_pa(tb, SID_B)? + 16, |w| {
            w & !0xffff
        }),
    }
}

/// Runs kernel 1, the crash, the corruption and the kdump kernel, reporting each step
/// through `progress`.
///
/// # Errors
///
/// A setup step that failed (not the corruption's effects, which are the report).
pub fn run(
    corruption: Corruption,
    progress: &mut dyn FnMut(&str),
) -> Result<CorruptReport, RunError> {
    let tb = Testbed::new(ModelConfig::default());
    let driver = tb
        .driver(&small_config())
        .map_err(|e| fail("kernel 1: driver probe", e))?;
    let mut k1: Core = IommuCore::new(driver, DefaultDomainKind::Dma);
    progress(&format!("kernel 1: SMMU up: {}", describe_strtab(&tb)));
    let specs = [
        (DeviceId(1), SID_A, DeviceDomain::S1Dma),
        (DeviceId(2), SID_B, DeviceDomain::S2Dma),
    ];
    let pace = Pace::shared_by(specs.len());
    let mut lives = Vec::with_capacity(specs.len());
    for (i, &(id, sid, domain)) in specs.iter().enumerate() {
        let stage = if domain == DeviceDomain::S1Dma {
            Stage::Stage1
        } else {
            Stage::Stage2
        };
        k1.driver_mut()
            .set_paging_stage(id, Some(stage))
            .map_err(|e| fail("kernel 1: set_paging_stage", e))?;
        k1.probe_device(DeviceDesc::new(id, &[StreamId(sid)]))
            .map_err(|e| fail("kernel 1: probe", e))?;
        let buf = tb.alloc_buffer(RING * PAGE);
        k1.dma_map(id, Iova(IOVA), PhysAddr(buf), RING * PAGE, RW)
            .map_err(|e| fail("kernel 1: dma_map", e))?;
        let mut live = LiveDevice::new(&tb, if i == 0 { "A" } else { "B" }, sid);
        live.mapping.map(IOVA, buf, RING * PAGE);
        live.start(
            ring_writer(IOVA, 0x100, 0xa000 + u64::from(sid)).forever(),
            pace,
        );
        progress(&format!(
            "kernel 1: dev {} ({}) sid {sid:#06x}: {domain} domain ({}), DMA running",
            id.0,
            if i == 0 { "A" } else { "B" },
            domain_ids(&k1, id)
        ));
        lives.push(live);
    }
    live::wait_more(&lives, BEFORE_CRASH, PHASE_TRANSACTIONS, DEADLINE).map_err(RunError)?;
    for l in &lives {
        l.set_phase(DURING_HANDOVER);
    }
    std::mem::forget(k1);
    progress("*** kernel 1 CRASHED (no teardown); DMA keeps running ***");

    let kd = tb.reboot(true);
    if corruption != Corruption::L1CorruptedAfterAdoption {
        progress(&format!("corruption: {}", apply(corruption, &tb, &kd)?));
    }
    let driver = kd
        .driver(&small_config())
        .map_err(|e| fail("kdump kernel: driver probe", e))?;
    let adoption = driver.adoption();
    let diagnostics = kd.hal.take_diagnostics();
    let mut k2: Core = IommuCore::new(driver, DefaultDomainKind::Dma);
    match adoption {
        AdoptionOutcome::FellBack(reason) => {
            progress(&format!("kdump kernel: adoption FAILED: {adoption:?}"));
            progress(&format!("kdump kernel:   = {reason}"));
            progress(&format!(
                "kdump kernel: fell back to the full reset (GBPA abort, SMMU disabled, fresh \
                 table): {}",
                describe_strtab(&tb)
            ));
        }
        _ => progress(&format!(
            "kdump kernel: {adoption:?}: SMMU still enabled, {}",
            describe_strtab(&tb)
        )),
    }
    for d in &diagnostics {
        progress(&format!("kdump kernel: driver diagnostic: {d:?}"));
    }
    if corruption == Corruption::L1CorruptedAfterAdoption {
        progress(&format!("corruption: {}", apply(corruption, &tb, &kd)?));
    }
    let mut probes = Vec::with_capacity(specs.len());
    for &(id, sid, domain) in &specs {
        if let Some(stage) = domain.stage() {
            k2.driver_mut()
                .set_paging_stage(id, Some(stage))
                .map_err(|e| fail("kdump kernel: set_paging_stage", e))?;
        }
        let probe = k2
            .probe_device(DeviceDesc::new(id, &[StreamId(sid)]))
            .and_then(|_| k2.is_attach_deferred(id));
        progress(&format!(
            "kdump kernel: probe dev {} sid {sid:#06x}: {}",
            id.0,
            match &probe {
                Ok(true) => "attach deferred (kernel 1's STE stays live)".to_owned(),
                Ok(false) => format!("attached to a new DMA domain ({})", domain_ids(&k2, id)),
                Err(iommu_core::Error::Driver(e)) => format!("probe FAILED: {e:?}"),
                Err(e) => format!("probe FAILED: {e:?}"),
            }
        ));
        probes.push(probe);
    }
    live::wait_more(&lives, DURING_HANDOVER, PHASE_TRANSACTIONS, DEADLINE).map_err(RunError)?;
    progress(&format!(
        "kdump kernel: both devices issued {PHASE_TRANSACTIONS} more transactions"
    ));

    let mut devices = Vec::with_capacity(specs.len());
    for ((live, probe), &(id, sid, domain)) in lives.iter_mut().zip(probes).zip(&specs) {
        live.stop();
        live.set_phase(AFTER_REATTACH);
        let mut reattached = false;
        if probe.is_ok() {
            let buf = kd
                .mem
                .alloc(RegionKind::CrashKernel, RING * PAGE, PAGE)
                .map_err(|e| fail("kdump kernel: buffer allocation", e))?;
            live.mapping.clear();
            k2.dma_map(id, Iova(IOVA), PhysAddr(buf), RING * PAGE, RW)
                .map_err(|e| fail("kdump kernel: dma_map", e))?;
            live.mapping.map(IOVA, buf, RING * PAGE);
            let pattern = 0xd000 + u64::from(sid);
            live.start(
                ring_writer(IOVA, 0x40, pattern).repeat(AFTER_TRANSACTIONS.div_ceil(RING)),
                Pace::FULL_SPEED,
            );
            live.finish();
            reattached =
                (0..RING).all(|i| kd.mem.read_u64(buf + i * PAGE + 0x40).ok() == Some(pattern));
            progress(&format!(
                "kdump kernel: dev {} quiesced, new buffers mapped (STE now {}, {}): DMA {}",
                id.0,
                ste_domain(&k2, sid)?.map_or("?", DeviceDomain::label),
                domain_ids(&k2, id),
                if reattached {
                    "lands in the new buffers"
                } else {
                    "did NOT land in the new buffers"
                }
            ));
        } else {
            progress(&format!(
                "kdump kernel: dev {} quiesced; its probe failed, so its driver cannot use the \
                 DMA API: it stays off",
                id.0
            ));
        }
        devices.push(CorruptDevice {
            id,
            sid,
            domain,
            probe,
            reattached,
            counts: live.counts(),
            handover_outcomes: live.outcomes_in(DURING_HANDOVER),
        });
    }
    drop(lives);
    drop(k2);
    Ok(CorruptReport {
        corruption,
        adoption,
        diagnostics,
        devices,
    })
}

/// The `corrupt-table` program's usage text.
pub const USAGE: &str = "\
usage: corrupt-table [--corruption KIND|all] [--list]

Kernel 1 runs two devices with DMA and crashes; their stream table is corrupted; the kdump
kernel probes the SMMU and (for every rule the corruption breaks) falls back to the full
reset with a typed reason. Shows the reason and what happened to the DMA.

options:
  --corruption KIND|all  the corruption (default: l1-span-too-big); `all` runs each in turn
  --list                 list the corruptions and the kdump.md rule each one breaks
  -h, --help             print this help
";

/// What the `corrupt-table` command line asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Options {
    /// `--help`.
    Help,
    /// `--list`.
    List,
    /// Run these corruptions in turn.
    Run(Vec<Corruption>),
}

impl Options {
    /// Parses the arguments after the program name.
    ///
    /// # Errors
    ///
    /// An unknown flag or corruption, or a missing value.
    pub fn parse(args: &[String]) -> Result<Self, ArgError> {
        let mut out = Self::Run(vec![Corruption::DEFAULT]);
        let mut it = Args::new(args);
        while let Some(flag) = it.next_flag()? {
            match flag.name {
                "-h" | "--help" => return Ok(Self::Help),
                "--list" => {
                    it.no_value(flag)?;
                    out = Self::List;
                }
                "--corruption" => {
                    let v = it.value(flag)?;
                    let kinds = if v == "all" {
                        Corruption::ALL.to_vec()
                    } else {
                        let choices: Vec<(&str, Corruption)> =
                            Corruption::ALL.iter().map(|c| (c.name(), *c)).collect();
                        vec![cli::choice(flag.name, v, &choices)?]
                    };
                    if out != Self::List {
                        out = Self::Run(kinds);
                    }
                }
                other => return Err(ArgError(format!("unknown option `{other}`"))),
            }
        }
        Ok(out)
    }
}

/// The text of `--list`.
#[must_use]
pub fn list() -> String {
    let mut s = String::new();
    for c in Corruption::ALL {
        let _ = writeln!(
            s,
            "{}{}\n    {}\n    kdump.md {}",
            c.name(),
            if c == Corruption::DEFAULT {
                " (default)"
            } else {
                ""
            },
            c.what(),
            c.rule()
        );
    }
    s
}
