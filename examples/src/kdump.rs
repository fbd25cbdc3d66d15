//! The kdump handover scenario of the `kdump` program (kdump.md), on the model.
//!
//! 1. **Kernel 1** boots: the driver probes and resets the SMMU, the iommu core probes
//!    every device. Devices get stage-1 DMA domains, stage-2 DMA domains (chosen per
//!    device with [`SmmuV3::set_paging_stage`](smmu_v3_driver::SmmuV3::set_paging_stage)
//!    before the device is probed), identity domains or blocked domains. Each device's
//!    "driver" maps a ring of buffers and the device starts writing to it, on its own
//!    thread, forever.
//! 2. **Crash**: kernel 1 is forgotten without any teardown (`std::mem::forget`). The
//!    SMMU stays enabled and the DMA goes on through kernel 1's tables.
//! 3. **kdump kernel** boots on the same model and memory. With adoption
//!    ([`Mode::Adopt`]) it adopts the live stream table in place; every device whose STE
//!    is live is probed with its attach deferred, and its DMA keeps landing where kernel
//!    1 meant it to. Without ([`Mode::Reset`], `Config::adopt = false`) the driver does
//!    the old full reset: GBPA abort, SMMU disabled, fresh table — in-flight DMA is
//!    aborted, then faults until each device's driver maps memory again.
//! 4. **Re-attach**, one device at a time while the others keep running: its driver
//!    quiesces it (stops the thread), maps new buffers from the crashkernel region (the
//!    first `dma_map` performs the deferred attach, rewriting the adopted STE in place),
//!    runs DMA again and checks that it landed in the new buffers.
//!
//! Each device has its own [`Ledger`](smmu_testbed::smmu_model::Ledger), so its phases
//! ([`BEFORE_CRASH`], [`DURING_HANDOVER`], [`AFTER_REATTACH`]) end when *its* driver
//! takes over. Every DMA phase is count-based (a number of transactions per device),
//! never time-based; the deadline only guards against a stalled device.

use std::fmt::{self, Write as _};
use std::time::{Duration, Instant};

use iommu_core::{
    DefaultDomainKind, DeviceDesc, DeviceId, DomainKind, IommuCore, Iova, PhysAddr, Prot, StreamId,
};
use smmu_testbed::smmu_model::{Counts, DmaProgram, ModelConfig, RegionKind};
use smmu_testbed::{CRASH_BASE, Testbed};
use smmu_v3_driver::pgtable::Stage;
use smmu_v3_driver::{AdoptionOutcome, FallbackReason};

use crate::cli::{self, ArgError, Args};
use crate::json::{self, Object};
use crate::live::{self, LiveDevice, Pace, PhaseCounts};
use crate::rng::Rng;
use crate::{AFTER_REATTACH, BEFORE_CRASH, Core, DURING_HANDOVER, small_config};

/// The most devices a run accepts (the iommu core's default device capacity).
pub const MAX_DEVICES: usize = 64;
/// The IOVA of every DMA-domain device's ring of buffers.
pub const IOVA: u64 = 0x4_0000_0000;
/// Buffers (4 KiB pages) in each device's ring.
pub const RING: u64 = 4;
/// StreamID bits of the model with a linear stream table (a 4096-entry table).
pub const LINEAR_SID_BITS: u32 = 12;
/// StreamID bits of the model with a 2-level stream table (the model's default).
pub const TWO_LEVEL_SID_BITS: u32 = 16;

pub(crate) const PAGE: u64 = 4096;
const WRITE_LEN: u32 = 64;
pub(crate) const RW: Prot = Prot::READ.union(Prot::WRITE);

// Register offsets (Arm IHI0070 §6.3), read from the model for the timeline.
const CR0ACK: u32 = 0x24;
const GBPA: u32 = 0x44;
pub(crate) const STRTAB_BASE: u32 = 0x80;
const STRTAB_BASE_CFG: u32 = 0x88;

/// Whether the kdump kernel adopts the live stream table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Mode {
    /// Adopt (kdump.md §3–§12): keep the SMMU enabled, defer attaches.
    Adopt,
    /// The old behaviour (`Config::adopt = false`): GBPA abort, disable, full reset.
    Reset,
}

impl Mode {
    /// The name used on the command line and in JSON.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::Adopt => "adopt",
            Self::Reset => "reset",
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The stream table format kernel 1 uses (chosen through the model's capabilities).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TableFormat {
    /// A linear table: a model without 2-level support, [`LINEAR_SID_BITS`] StreamID bits.
    Linear,
    /// A 2-level table (SPLIT 8: 256 STEs per L2 table), [`TWO_LEVEL_SID_BITS`] bits.
    TwoLevel,
}

impl TableFormat {
    /// The name used on the command line and in JSON.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::Linear => "linear",
            Self::TwoLevel => "2level",
        }
    }

    /// The model of this format.
    #[must_use]
    pub fn model(self) -> ModelConfig {
        match self {
            Self::Linear => ModelConfig::default()
                .two_level_strtab(false)
                .sid_bits(LINEAR_SID_BITS),
            Self::TwoLevel => ModelConfig::default().sid_bits(TWO_LEVEL_SID_BITS),
        }
    }

    const fn sid_bits(self) -> u32 {
        match self {
            Self::Linear => LINEAR_SID_BITS,
            Self::TwoLevel => TWO_LEVEL_SID_BITS,
        }
    }
}

impl fmt::Display for TableFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The translation a device's STE gives it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeviceDomain {
    /// A DMA domain translated at stage 1 (STE Config S1_TRANS).
    S1Dma,
    /// A DMA domain translated at stage 2 (STE Config S2_TRANS).
    S2Dma,
    /// An identity domain (STE Config BYPASS).
    Identity,
    /// A blocked domain (STE Config ABORT).
    Blocked,
}

impl DeviceDomain {
    /// The kinds dealt out to devices, round-robin.
    pub const ALL: [Self; 4] = [Self::S1Dma, Self::S2Dma, Self::Identity, Self::Blocked];

    /// A label for tables ("S1 DMA", "identity", …).
    #[must_use]
    pub const fn label(self) -> &'static str {
        match self {
            Self::S1Dma => "S1 DMA",
            Self::S2Dma => "S2 DMA",
            Self::Identity => "identity",
            Self::Blocked => "blocked",
        }
    }

    /// The name used in JSON (`s1_dma`, `s2_dma`, `identity`, `blocked`).
    #[must_use]
    pub const fn json_name(self) -> &'static str {
        match self {
            Self::S1Dma => "s1_dma",
            Self::S2Dma => "s2_dma",
            Self::Identity => "identity",
            Self::Blocked => "blocked",
        }
    }

    /// Whether kernel 1 lets the device do DMA (every kind but [`Blocked`](Self::Blocked)).
    #[must_use]
    pub const fn is_live(self) -> bool {
        !matches!(self, Self::Blocked)
    }

    /// The paging stage of a DMA domain.
    #[must_use]
    pub const fn stage(self) -> Option<Stage> {
        match self {
            Self::S1Dma => Some(Stage::Stage1),
            Self::S2Dma => Some(Stage::Stage2),
            Self::Identity | Self::Blocked => None,
        }
    }

    /// Decodes STE word 0 (V, bit 0; Config, bits 3:1 — Arm IHI0070 §5.2): `None` for
    /// an invalid STE or a Config this scenario never uses.
    #[must_use]
    pub const fn from_ste(dw0: u64) -> Option<Self> {
        if dw0 & 1 == 0 {
            return None;
        }
        match (dw0 >> 1) & 7 {
            0 => Some(Self::Blocked),
            4 => Some(Self::Identity),
            5 => Some(Self::S1Dma),
            6 => Some(Self::S2Dma),
            _ => None,
        }
    }
}

impl fmt::Display for DeviceDomain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// One run of the scenario.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunConfig {
    /// Adopt, or the old full reset.
    pub mode: Mode,
    /// The stream table format.
    pub table: TableFormat,
    /// Number of devices, `1..=`[`MAX_DEVICES`].
    pub devices: usize,
    /// Seed of the StreamIDs, the device layout and the DMA patterns.
    pub seed: u64,
    /// Transactions each live device issues before kernel 1 crashes (at least).
    pub before_crash: u64,
    /// Transactions each live device issues during the handover after the kdump
    /// kernel's SMMU probe (at least): a third before the first device probe, a third
    /// spread over the device probes, a third after the last one. More are issued
    /// while the kdump kernel's driver probes the SMMU.
    pub during_handover: u64,
    /// Transactions each device issues after its re-attach (rounded up to whole passes
    /// over its ring of [`RING`] buffers).
    pub after_reattach: u64,
    /// How long a wait for DMA progress may take before the run fails.
    pub deadline: Duration,
}

impl RunConfig {
    /// The defaults: 8 devices, seed 1, 2000 transactions per live device before the
    /// crash and during the handover, 256 after re-attach, 60 s deadline.
    #[must_use]
    pub const fn new(mode: Mode, table: TableFormat) -> Self {
        Self {
            mode,
            table,
            devices: 8,
            seed: 1,
            before_crash: 2000,
            during_handover: 2000,
            after_reattach: 256,
            deadline: Duration::from_secs(60),
        }
    }
}

/// Where one device is and what it writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DevicePlan {
    /// Its StreamID.
    pub sid: u32,
    /// The domain kernel 1 gives it.
    pub domain: DeviceDomain,
    /// Offset of its writes inside each ring buffer (64-byte aligned).
    pub offset: u64,
    /// The pattern it writes in kernel 1.
    pub pattern: u64,
    /// The pattern it writes after re-attach.
    pub new_pattern: u64,
}

/// The devices of a run, in StreamID order: kinds dealt round-robin
/// ([`DeviceDomain::ALL`]) and shuffled by the seed; distinct StreamIDs drawn from the
/// seed. With a 2-level table the StreamIDs fall in several L2 tables (StreamID bits 8
/// and up differ), two devices per L2 table on average, so that handing one device over
/// is seen not to disturb a neighbour in the same L2 table.
#[must_use]
pub fn plan(table: TableFormat, devices: usize, seed: u64) -> Vec<DevicePlan> {
    let mut rng = Rng::new(seed);
    let mut kinds: Vec<DeviceDomain> = (0..devices)
        .map(|i| DeviceDomain::ALL[i % DeviceDomain::ALL.len()])
        .collect();
    rng.shuffle(&mut kinds);
    let sids: Vec<u64> = match table {
        TableFormat::Linear => rng.distinct(devices, 1 << table.sid_bits()),
        TableFormat::TwoLevel => {
            let l2_tables = 1u64 << (table.sid_bits() - 8);
            let ranges = if devices <= 1 {
                1
            } else {
                devices.div_ceil(2).max(2)
            };
            let ranges = rng.distinct(ranges, l2_tables);
            let mut sids: Vec<u64> = Vec::with_capacity(devices);
            for i in 0..devices {
                let range = ranges.get(i % ranges.len()).copied().unwrap_or(0);
                loop {
                    let sid = (range << 8) | rng.below(256);
                    if !sids.contains(&sid) {
                        sids.push(sid);
                        break;
                    }
                }
            }
            sids
        }
    };
    let mut plans: Vec<DevicePlan> = kinds
        .into_iter()
        .zip(sids)
        .map(|(domain, sid)| DevicePlan {
            sid: sid as u32,
            domain,
            offset: rng.below(PAGE / u64::from(WRITE_LEN)) * u64::from(WRITE_LEN),
            pattern: rng.next_u64(),
            new_pattern: rng.next_u64(),
        })
        .collect();
    plans.sort_by_key(|p| p.sid);
    plans
}

/// What happened to one device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceReport {
    /// The device.
    pub id: DeviceId,
    /// Its StreamID.
    pub sid: u32,
    /// The domain kernel 1 gave it (read back from kernel 1's STE).
    pub domain: DeviceDomain,
    /// Whether the kdump kernel deferred its attach at probe.
    pub deferred: bool,
    /// The translation of its STE after the kdump kernel re-attached it.
    pub domain_after: Option<DeviceDomain>,
    /// Whether every write after re-attach was found in the new buffers.
    pub data_verified: bool,
    /// Its ledger, per phase.
    pub counts: PhaseCounts,
}

impl DeviceReport {
    /// Transactions issued before the crash (completed + faulted + aborted).
    #[must_use]
    pub const fn before_crash(&self) -> u64 {
        self.counts.before_crash.total()
    }

    /// Transactions issued during the handover (completed + faulted + aborted).
    #[must_use]
    pub const fn during_handover(&self) -> u64 {
        self.counts.during_handover.total()
    }

    /// Transactions issued after re-attach (completed + faulted + aborted).
    #[must_use]
    pub const fn after_reattach(&self) -> u64 {
        self.counts.after_reattach.total()
    }

    /// Faulted transactions over all phases.
    #[must_use]
    pub fn faulted(&self) -> u64 {
        self.counts.total().faulted
    }

    /// Aborted transactions (silently terminated, or bus errors) over all phases.
    #[must_use]
    pub fn aborted(&self) -> u64 {
        self.counts.total().aborted
    }

    /// Misdirected transactions over all phases.
    #[must_use]
    pub fn misdirected(&self) -> u64 {
        self.counts.total().misdirected
    }

    /// This device as a JSON object.
    #[must_use]
    pub fn to_json(&self) -> String {
        Object::new()
            .number("sid", u64::from(self.sid))
            .string("domain", self.domain.json_name())
            .boolean("deferred", self.deferred)
            .number("before_crash", self.before_crash())
            .number("during_handover", self.during_handover())
            .number("after_reattach", self.after_reattach())
            .number("faulted", self.faulted())
            .number("aborted", self.aborted())
            .number("misdirected", self.misdirected())
            .finish()
    }
}

/// The result of one run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunReport {
    /// Adopt or reset.
    pub mode: Mode,
    /// The stream table format.
    pub table: TableFormat,
    /// The seed.
    pub seed: u64,
    /// What the kdump kernel's driver did with the live stream table.
    pub adoption: AdoptionOutcome,
    /// Whether STRTAB_BASE still pointed at kernel 1's table after the kdump kernel's
    /// reset (it must with adoption: the table is adopted in place).
    pub strtab_kept: bool,
    /// The devices, in StreamID order.
    pub devices: Vec<DeviceReport>,
    /// Wall time of the run.
    pub elapsed: Duration,
}

impl RunReport {
    /// Why the kdump kernel fell back to the full reset, if it did.
    #[must_use]
    pub const fn fallback_reason(&self) -> Option<FallbackReason> {
        self.adoption.fallback_reason()
    }

    /// The sums of every device's counters over all phases.
    #[must_use]
    pub fn totals(&self) -> Counts {
        let mut t = Counts::default();
        for d in &self.devices {
            let c = d.counts.total();
            t.completed += c.completed;
            t.faulted += c.faulted;
            t.aborted += c.aborted;
            t.misdirected += c.misdirected;
        }
        t
    }

    /// This run as a JSON object: `mode`, `table`, `devices`, `fallback_reason` (the
    /// reason's `Debug` form, or `null`).
    #[must_use]
    pub fn to_json(&self) -> String {
        let reason = self.fallback_reason().map(|r| format!("{r:?}"));
        Object::new()
            .string("mode", self.mode.name())
            .string("table", self.table.name())
            .raw(
                "devices",
                json::array(self.devices.iter().map(DeviceReport::to_json)),
            )
            .opt_string("fallback_reason", reason.as_deref())
            .finish()
    }

    /// The per-device table (see [`LEGEND`]).
    #[must_use]
    pub fn table(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "  {:>3}  {:<8}  {:<13}  {:<8}  {:>12}  {:>15}  {:>15}  {:>7}  {:>7}  {:>11}  {:<8}",
            "dev",
            "StreamID",
            "domain before",
            "deferred",
            "before crash",
            "during handover",
            "after re-attach",
            "faulted",
            "aborted",
            "misdirected",
            "now"
        );
        for d in &self.devices {
            let _ = writeln!(
                s,
                "  {:>3}  {:<8}  {:<13}  {:<8}  {:>12}  {:>15}  {:>15}  {:>7}  {:>7}  {:>11}  {:<8}",
                d.id.0,
                format!("{:#06x}", d.sid),
                d.domain.label(),
                if d.deferred { "yes" } else { "no" },
                d.before_crash(),
                d.during_handover(),
                d.after_reattach(),
                d.faulted(),
                d.aborted(),
                d.misdirected(),
                d.domain_after.map_or("?", DeviceDomain::label),
            );
        }
        let trimmed: Vec<&str> = s.lines().map(str::trim_end).collect();
        let mut s = trimmed.join("\n");
        s.push('\n');
        let t = self.totals();
        let _ = writeln!(
            s,
            "  {:>3}  {:<8}  {:<13}  {:<8}  {:>12}  {:>15}  {:>15}  {:>7}  {:>7}  {:>11}",
            "all",
            "",
            "",
            "",
            self.devices
                .iter()
                .map(DeviceReport::before_crash)
                .sum::<u64>(),
            self.devices
                .iter()
                .map(DeviceReport::during_handover)
                .sum::<u64>(),
            self.devices
                .iter()
                .map(DeviceReport::after_reattach)
                .sum::<u64>(),
            t.faulted,
            t.aborted,
            t.misdirected,
        );
        s
    }
}

/// What the table's columns mean.
pub const LEGEND: &str = "  \
  before crash / during handover / after re-attach: transactions the device issued in
    that phase (completed + faulted + aborted). \"during handover\" runs from the crash
    until the device's kdump-kernel driver quiesced it. Blocked devices do no DMA until
    their kdump-kernel driver maps buffers (every device does, after re-attach).
  faulted / aborted / misdirected: totals over all three phases. faulted = terminated by
    the SMMU with a fault event (C_BAD_STREAMID, F_TRANSLATION, ...; the kdump kernel runs
    no event queue, so nobody sees them); aborted = terminated silently (GBPA abort, abort
    STE) or sent to a non-RAM address; misdirected = completed somewhere other than where
    the device's driver had mapped it.
  now: the device's STE after its kdump-kernel driver re-attached it.
  summary, clean through handover: live devices with no faulted, aborted or misdirected
    transaction during the handover.";

/// The JSON document of the `kdump` program: `{"runs":[…]}`.
#[must_use]
pub fn runs_to_json(runs: &[RunReport]) -> String {
    Object::new()
        .raw("runs", json::array(runs.iter().map(RunReport::to_json)))
        .finish()
}

/// A short comparison of the runs (adopt vs reset), for the end of the demo.
#[must_use]
pub fn comparison(runs: &[RunReport]) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "  {:<6}  {:<7}  {:>22}  {:>7}  {:>7}  {:>11}  fallback",
        "mode", "table", "clean through handover", "faulted", "aborted", "misdirected"
    );
    for r in runs {
        let live: Vec<&DeviceReport> = r.devices.iter().filter(|d| d.domain.is_live()).collect();
        let clean = live
            .iter()
            .filter(|d| {
                let c = d.counts.during_handover;
                c.faulted + c.aborted + c.misdirected == 0
            })
            .count();
        let t = r.totals();
        let _ = writeln!(
            s,
            "  {:<6}  {:<7}  {:>22}  {:>7}  {:>7}  {:>11}  {}",
            r.mode.name(),
            r.table.name(),
            format!("{clean}/{} live devices", live.len()),
            t.faulted,
            t.aborted,
            t.misdirected,
            r.fallback_reason()
                .map_or_else(|| "none".to_owned(), |f| format!("{f:?}")),
        );
    }
    s
}

/// A failed run (a setup step or a DMA phase that did not work).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunError(pub String);

impl fmt::Display for RunError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for RunError {}

pub(crate) fn fail(what: impl fmt::Display, e: impl fmt::Debug) -> RunError {
    RunError(format!("{what}: {e:?}"))
}

/// One device during the run.
struct Dev {
    id: DeviceId,
    plan: DevicePlan,
    live: LiveDevice,
    program: Option<DmaProgram>,
    /// Kernel 1's ASID / VMID of a DMA-domain device.
    k1_id: Option<(bool, u32)>,
    deferred: bool,
    domain_after: Option<DeviceDomain>,
    data_verified: bool,
}

/// The stream table the model walks, from STRTAB_BASE / STRTAB_BASE_CFG
/// (Arm IHI0070 §6.3.23–24: FMT 17:16, SPLIT 10:6, LOG2SIZE 5:0).
pub(crate) fn describe_strtab(tb: &Testbed) -> String {
    let base = tb.smmu.read64(STRTAB_BASE) & 0x000f_ffff_ffff_ffc0;
    let cfg = tb.smmu.read32(STRTAB_BASE_CFG);
    let log2size = cfg & 0x3f;
    let split = (cfg >> 6) & 0x1f;
    let region = if base >= CRASH_BASE {
        "crashkernel memory"
    } else {
        "kernel 1 memory"
    };
    match (cfg >> 16) & 3 {
        0 => format!("linear stream table at PA {base:#x} ({region}), 2^{log2size} STEs"),
        1 => format!(
            "2-level stream table at PA {base:#x} ({region}), LOG2SIZE {log2size}, SPLIT \
             {split}: {} L1 descriptors, {} STEs per L2 table",
            1u64 << log2size.saturating_sub(split),
            1u64 << split
        ),
        fmt => format!("stream table with reserved FMT {fmt} at PA {base:#x}"),
    }
}

/// The ASID (`false`) or VMID (`true`) of the device's current domain.
fn domain_id(k: &Core, id: DeviceId) -> Option<(bool, u32)> {
    let d = k.domain_data(k.device(id).ok()?.domain).ok()?;
    match (d.asid(), d.vmid()) {
        (Some(a), _) => Some((false, u32::from(a.0))),
        (None, Some(v)) => Some((true, u32::from(v.0))),
        (None, None) => None,
    }
}

fn id_label((stage2, id): (bool, u32)) -> String {
    format!("{} {id}", if stage2 { "VMID" } else { "ASID" })
}

/// "ASID n" / "VMID n" of the device's current domain.
pub(crate) fn domain_ids(k: &Core, id: DeviceId) -> String {
    domain_id(k, id).map(id_label).unwrap_or_default()
}

pub(crate) fn ste_domain(k: &Core, sid: u32) -> Result<Option<DeviceDomain>, RunError> {
    let ste = k
        .driver()
        .ste(smmu_regs::StreamId(sid))
        .map_err(|e| fail(format_args!("reading the STE of {sid:#x}"), e))?;
    Ok(DeviceDomain::from_ste(ste[0]))
}

pub(crate) fn ring_writer(base: u64, offset: u64, pattern: u64) -> DmaProgram {
    let ring: Vec<u64> = (0..RING).map(|i| base + i * PAGE + offset).collect();
    DmaProgram::ring_writer(&ring, WRITE_LEN, pattern)
}

/// Waits until every running device issued `more` transactions during the handover
/// beyond what it had issued when called.
fn wait_more(devs: &[Dev], more: u64, deadline: Duration) -> Result<(), RunError> {
    live::wait_more(
        devs.iter().map(|d| &d.live),
        DURING_HANDOVER,
        more,
        deadline,
    )
    .map_err(RunError)
}

/// Runs the scenario once, reporting each step through `progress` as it happens.
///
/// # Errors
///
/// A device count outside `1..=`[`MAX_DEVICES`], or a step that failed (a driver or
/// core call, a DMA phase that stalled past the deadline).
pub fn run(config: &RunConfig, progress: &mut dyn FnMut(&str)) -> Result<RunReport, RunError> {
    if !(1..=MAX_DEVICES).contains(&config.devices) {
        return Err(RunError(format!(
            "{} devices: the scenario runs 1 to {MAX_DEVICES}",
            config.devices
        )));
    }
    let started = Instant::now();
    let plans = plan(config.table, config.devices, config.seed);
    let tb = Testbed::new(config.table.model());

    // ---- Kernel 1 -----------------------------------------------------------------
    let driver = tb
        .driver(&small_config())
        .map_err(|e| fail("kernel 1: driver probe", e))?;
    let mut k1: Core = IommuCore::new(driver, DefaultDomainKind::Dma);
    progress(&format!(
        "kernel 1: SMMU probed and reset: {}",
        describe_strtab(&tb)
    ));
    if config.table == TableFormat::TwoLevel {
        let mut l2: Vec<u32> = plans.iter().map(|p| p.sid >> 8).collect();
        l2.dedup();
        let list: Vec<String> = l2.iter().map(|i| format!("{i:#x}")).collect();
        progress(&format!(
            "kernel 1: {} devices in {} L2 tables (L1 indices {})",
            plans.len(),
            l2.len(),
            list.join(", ")
        ));
    }
    let mut devs: Vec<Dev> = Vec::with_capacity(plans.len());
    for (i, p) in plans.iter().enumerate() {
        let id = DeviceId(i as u32 + 1);
        if let Some(stage) = p.domain.stage() {
            k1.driver_mut()
                .set_paging_stage(id, Some(stage))
                .map_err(|e| fail(format_args!("kernel 1: set_paging_stage({id:?})"), e))?;
        }
        k1.probe_device(DeviceDesc::new(id, &[StreamId(p.sid)]))
            .map_err(|e| fail(format_args!("kernel 1: probe of {id:?}"), e))?;
        let live = LiveDevice::new(&tb, &format!("dev {} (sid {:#x})", id.0, p.sid), p.sid);
        let (program, what) = match p.domain {
            DeviceDomain::S1Dma | DeviceDomain::S2Dma => {
                let buf = tb.alloc_buffer(RING * PAGE);
                k1.dma_map(id, Iova(IOVA), PhysAddr(buf), RING * PAGE, RW)
                    .map_err(|e| fail(format_args!("kernel 1: dma_map of {id:?}"), e))?;
                live.mapping.map(IOVA, buf, RING * PAGE);
                (
                    Some(ring_writer(IOVA, p.offset, p.pattern)),
                    format!(
                        "{} domain ({}), IOVA {IOVA:#x} -> PA {buf:#x}, {RING} pages",
                        p.domain,
                        domain_ids(&k1, id)
                    ),
                )
            }
            DeviceDomain::Identity | DeviceDomain::Blocked => {
                let kind = if p.domain == DeviceDomain::Identity {
                    DomainKind::Identity
                } else {
                    DomainKind::Blocked
                };
                let dom = k1
                    .alloc_domain(id, kind)
                    .map_err(|e| fail(format_args!("kernel 1: {kind:?} domain"), e))?;
                k1.attach_device(id, dom)
                    .map_err(|e| fail(format_args!("kernel 1: attach of {id:?}"), e))?;
                if p.domain == DeviceDomain::Identity {
                    let buf = tb.alloc_buffer(RING * PAGE);
                    live.mapping.set_identity(true);
                    (
                        Some(ring_writer(buf, p.offset, p.pattern)),
                        format!("identity domain, DMA straight to PA {buf:#x}, {RING} pages"),
                    )
                } else {
                    (None, "blocked domain, no DMA".to_owned())
                }
            }
        };
        let seen = ste_domain(&k1, p.sid)?;
        if seen != Some(p.domain) {
            return Err(RunError(format!(
                "kernel 1: the STE of {:#x} says {seen:?}, expected {:?}",
                p.sid, p.domain
            )));
        }
        progress(&format!(
            "kernel 1: dev {:>2} sid {:#06x}: {what}",
            id.0, p.sid
        ));
        devs.push(Dev {
            id,
            plan: *p,
            k1_id: p.domain.stage().and_then(|_| domain_id(&k1, id)),
            live,
            program,
            deferred: false,
            domain_after: None,
            data_verified: false,
        });
    }
    let pace = Pace::shared_by(devs.len());
    for d in &mut devs {
        if let Some(program) = d.program.take() {
            d.live.start(program.forever(), pace);
        }
    }
    let running = devs.iter().filter(|d| d.live.is_running()).count();
    progress(&format!(
        "kernel 1: {running} devices doing DMA ({} blocked, idle)",
        devs.len() - running
    ));
    live::wait_more(
        devs.iter().map(|d| &d.live),
        BEFORE_CRASH,
        config.before_crash,
        config.deadline,
    )
    .map_err(RunError)?;
    progress(&format!(
        "kernel 1: every live device issued at least {} transactions",
        config.before_crash
    ));

    // ---- Crash --------------------------------------------------------------------
    for d in &devs {
        d.live.set_phase(DURING_HANDOVER);
    }
    let k1_strtab = tb.smmu.read64(STRTAB_BASE);
    std::mem::forget(k1);
    progress(
        "*** kernel 1 CRASHED: no teardown; the SMMU stays enabled and DMA keeps flowing \
         through kernel 1's tables ***",
    );

    // ---- kdump kernel -------------------------------------------------------------
    let kd = tb.reboot(true);
    let mut c2 = small_config();
    c2.adopt = config.mode == Mode::Adopt;
    progress(&format!(
        "kdump kernel: probing the SMMU (Config::adopt = {})",
        c2.adopt
    ));
    let boot = Instant::now();
    let driver = kd
        .driver(&c2)
        .map_err(|e| fail("kdump kernel: driver probe", e))?;
    let boot = boot.elapsed();
    let adoption = driver.adoption();
    let mut k2: Core = IommuCore::new(driver, DefaultDomainKind::Dma);
    let strtab_kept = tb.smmu.read64(STRTAB_BASE) == k1_strtab;
    match adoption {
        AdoptionOutcome::Adopted { .. } => progress(&format!(
            "kdump kernel: SMMU probed in {boot:.1?}: {adoption:?}; SMMUEN stayed {}, \
             STRTAB_BASE {}: {}",
            tb.smmu.read32(CR0ACK) & 1,
            if strtab_kept { "unchanged" } else { "CHANGED" },
            describe_strtab(&tb)
        )),
        _ => progress(&format!(
            "kdump kernel: SMMU probed in {boot:.1?}: {adoption:?} -> full reset: GBPA.ABORT \
             {}, SMMU disabled and re-enabled with a fresh {}",
            (tb.smmu.read32(GBPA) >> 20) & 1,
            describe_strtab(&tb)
        )),
    }
    for diag in kd.hal.take_diagnostics() {
        progress(&format!("kdump kernel: driver diagnostic: {diag:?}"));
    }
    let k1_ids: Vec<(bool, u32)> = devs.iter().filter_map(|d| d.k1_id).collect();
    let reserved: Vec<String> = k1_ids
        .iter()
        .filter(|&&(stage2, id)| k2.driver().id_in_use(stage2, id))
        .map(|&i| id_label(i))
        .collect();
    progress(&format!(
        "kdump kernel: IDs of kernel 1's live DMA domains reserved by the §6 scan: {}",
        if reserved.is_empty() {
            "none".to_owned()
        } else {
            format!(
                "{} of {}: {}",
                reserved.len(),
                k1_ids.len(),
                reserved.join(", ")
            )
        }
    ));
    // The kdump kernel boots on; its devices are probed one by one as the bus is
    // enumerated and their drivers load, while their DMA goes on.
    let third = (config.during_handover / 3).max(1);
    let per_probe = (third / devs.len() as u64).max(1);
    wait_more(&devs, third, config.deadline)?;
    progress(&format!(
        "kdump kernel: booting on; every live device issued {third} more transactions \
         before the first device probe"
    ));
    for i in 0..devs.len() {
        let Some(d) = devs.get_mut(i) else { break };
        if let Some(stage) = d.plan.domain.stage() {
            k2.driver_mut()
                .set_paging_stage(d.id, Some(stage))
                .map_err(|e| fail("kdump kernel: set_paging_stage", e))?;
        }
        k2.probe_device(DeviceDesc::new(d.id, &[StreamId(d.plan.sid)]))
            .map_err(|e| fail(format_args!("kdump kernel: probe of {:?}", d.id), e))?;
        d.deferred = k2
            .is_attach_deferred(d.id)
            .map_err(|e| fail("is_attach_deferred", e))?;
        let state = if d.deferred {
            "attach DEFERRED, kernel 1's STE stays live".to_owned()
        } else {
            format!(
                "attached now to a new DMA domain ({})",
                domain_ids(&k2, d.id)
            )
        };
        progress(&format!(
            "kdump kernel: probe dev {:>2} sid {:#06x} ({}): is_attach_deferred = {} -> {state}",
            d.id.0, d.plan.sid, d.plan.domain, d.deferred
        ));
        wait_more(&devs, per_probe, config.deadline)?;
    }
    wait_more(&devs, third, config.deadline)?;
    progress(&format!(
        "kdump kernel: every device probed; every live device issued {third} more \
         transactions since"
    ));

    // ---- Re-attach, one device at a time --------------------------------------------
    let passes = config.after_reattach.div_ceil(RING).max(1);
    for d in &mut devs {
        let quiesced = d.live.is_running();
        d.live.stop();
        d.live.set_phase(AFTER_REATTACH);
        let buf = kd
            .mem
            .alloc(RegionKind::CrashKernel, RING * PAGE, PAGE)
            .map_err(|e| fail("kdump kernel: buffer allocation", e))?;
        d.live.mapping.set_identity(false);
        d.live.mapping.clear();
        k2.dma_map(d.id, Iova(IOVA), PhysAddr(buf), RING * PAGE, RW)
            .map_err(|e| fail(format_args!("kdump kernel: dma_map of {:?}", d.id), e))?;
        d.live.mapping.map(IOVA, buf, RING * PAGE);
        let still_deferred = k2
            .is_attach_deferred(d.id)
            .map_err(|e| fail("is_attach_deferred", e))?;
        if still_deferred {
            return Err(RunError(format!(
                "{:?} is still deferred after dma_map",
                d.id
            )));
        }
        d.domain_after = ste_domain(&k2, d.plan.sid)?;
        d.live.start(
            ring_writer(IOVA, d.plan.offset, d.plan.new_pattern).repeat(passes),
            Pace::FULL_SPEED,
        );
        let issued = d.live.finish();
        d.data_verified = (0..RING).all(|i| {
            kd.mem.read_u64(buf + i * PAGE + d.plan.offset).ok() == Some(d.plan.new_pattern)
        });
        progress(&format!(
            "kdump kernel: dev {:>2} sid {:#06x}: {}dma_map of new buffers at PA {buf:#x}{} -> \
             STE now {} ({}); {issued} writes, {}",
            d.id.0,
            d.plan.sid,
            if quiesced { "quiesced; " } else { "" },
            if d.deferred {
                " (performs the deferred attach)"
            } else {
                ""
            },
            d.domain_after.map_or("?", DeviceDomain::label),
            domain_ids(&k2, d.id),
            if d.data_verified {
                "all landed in the new buffers"
            } else {
                "NOT all found in the new buffers"
            },
        ));
    }
    let devices = devs
        .iter()
        .map(|d| DeviceReport {
            id: d.id,
            sid: d.plan.sid,
            domain: d.plan.domain,
            deferred: d.deferred,
            domain_after: d.domain_after,
            data_verified: d.data_verified,
            counts: d.live.counts(),
        })
        .collect();
    drop(devs);
    drop(k2);
    Ok(RunReport {
        mode: config.mode,
        table: config.table,
        seed: config.seed,
        adoption,
        strtab_kept,
        devices,
        elapsed: started.elapsed(),
    })
}

/// The `kdump` program's usage text.
pub const USAGE: &str = "\
usage: kdump [--mode adopt|reset|both] [--table linear|2level] [--devices N] [--seed S] [--json]

Runs the kdump handover on the SMMUv3 model: kernel 1 sets up devices and DMA, crashes
mid-traffic, and the kdump kernel takes over with (adopt) or without (reset) adopting the
live stream table.

options:
  --mode adopt|reset|both   adopt the live stream table, the old full reset, or one run
                            of each (default: both)
  --table linear|2level     the stream table format (default: 2level)
  --devices N               number of devices, 1 to 64 (default: 8)
  --seed S                  seed of the StreamIDs, device layout and DMA patterns
                            (decimal or 0x-hex, default: 1)
  --json                    print one JSON object on stdout (progress goes to stderr)
  -h, --help                print this help
";

/// The `kdump` program's command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// The runs, in order.
    pub modes: Vec<Mode>,
    /// The stream table format.
    pub table: TableFormat,
    /// Number of devices.
    pub devices: usize,
    /// The seed.
    pub seed: u64,
    /// Print JSON instead of the timeline and tables.
    pub json: bool,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            modes: vec![Mode::Adopt, Mode::Reset],
            table: TableFormat::TwoLevel,
            devices: 8,
            seed: 1,
            json: false,
        }
    }
}

/// A parsed command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed {
    /// `--help`: print [`USAGE`] and exit successfully.
    Help,
    /// Run with these options.
    Run(Options),
}

impl Options {
    /// Parses the arguments after the program name.
    ///
    /// # Errors
    ///
    /// An unknown flag, a missing or malformed value, or a device count outside
    /// `1..=`[`MAX_DEVICES`].
    pub fn parse(args: &[String]) -> Result<Parsed, ArgError> {
        let mut o = Self::default();
        let mut it = Args::new(args);
        while let Some(flag) = it.next_flag()? {
            match flag.name {
                "-h" | "--help" => return Ok(Parsed::Help),
                "--json" => {
                    it.no_value(flag)?;
                    o.json = true;
                }
                "--mode" => {
                    let v = it.value(flag)?;
                    o.modes = cli::choice(
                        flag.name,
                        v,
                        &[
                            ("adopt", &[Mode::Adopt][..]),
                            ("reset", &[Mode::Reset][..]),
                            ("both", &[Mode::Adopt, Mode::Reset][..]),
                        ],
                    )?
                    .to_vec();
                }
                "--table" => {
                    let v = it.value(flag)?;
                    o.table = cli::choice(
                        flag.name,
                        v,
                        &[
                            ("linear", TableFormat::Linear),
                            ("2level", TableFormat::TwoLevel),
                        ],
                    )?;
                }
                "--devices" => {
                    let v = it.value(flag)?;
                    let n: usize = cli::number(flag.name, v)?;
                    if !(1..=MAX_DEVICES).contains(&n) {
                        return Err(ArgError(format!(
                            "--devices: {n} is out of range (1 to {MAX_DEVICES})"
                        )));
                    }
                    o.devices = n;
                }
                "--seed" => {
                    let v = it.value(flag)?;
                    o.seed = cli::number(flag.name, v)?;
                }
                other => return Err(ArgError(format!("unknown option `{other}`"))),
            }
        }
        Ok(Parsed::Run(o))
    }

    /// The run configurations these options ask for (with the default DMA lengths).
    #[must_use]
    pub fn run_configs(&self) -> Vec<RunConfig> {
        self.modes
            .iter()
            .map(|&mode| RunConfig {
                devices: self.devices,
                seed: self.seed,
                ..RunConfig::new(mode, self.table)
            })
            .collect()
    }
}
