//! The SMMU model: register file, command queue consumer, event queue producer,
//! configuration caches and TLB.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use crate::cache::{CacheKey, SetAssoc, mix};
use crate::cmdq::CommandLog;
use crate::config::{CmdqMode, ModelConfig};
use crate::event::{Disposition, EventRecord, FaultLog, FaultLogEntry};
use crate::mem::PhysMemory;
use crate::regs::*;
use crate::structs::{CdInfo, SteInfo};

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Software-visible register state that only register writes and the command queue
/// touch (protected by one mutex).
#[derive(Debug, Default)]
pub(crate) struct Regs {
    pub(crate) cr0: u32,
    pub(crate) cr1: u32,
    pub(crate) irq_ctrl: u32,
    pub(crate) gerror_irq_cfg2: u32,
    pub(crate) cmdq_base: u64,
    pub(crate) cmdq_prod: u32,
    pub(crate) cmdq_cons: u32,
    pub(crate) priq_base: u64,
    pub(crate) priq_prod: u32,
    pub(crate) priq_cons: u32,
    pub(crate) priq_irq_cfg0: u64,
    pub(crate) priq_irq_cfg1: u32,
    pub(crate) priq_irq_cfg2: u32,
}

/// Event queue state, touched by register writes and by translations that fault.
#[derive(Debug, Default)]
pub(crate) struct EventQueue {
    pub(crate) base: u64,
    pub(crate) prod: u32,
    pub(crate) cons: u32,
    pub(crate) enabled: bool,
    pub(crate) irq_cfg0: u64,
    pub(crate) irq_cfg1: u32,
    pub(crate) irq_cfg2: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SidKey(pub(crate) u32);
impl CacheKey for SidKey {
    fn hash64(&self) -> u64 {
        mix(u64::from(self.0), 0x5)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CdKey {
    pub(crate) sid: u32,
    pub(crate) idx: u32,
}
impl CacheKey for CdKey {
    fn hash64(&self) -> u64 {
        mix(u64::from(self.sid), u64::from(self.idx))
    }
}

/// The translation regime and tag of a TLB entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TlbTag {
    /// Non-hypervisor stage 1 (or combined stage 1 + 2), tagged by VMID and ASID.
    Nh { vmid: u16, asid: u16 },
    /// EL2 / EL2-E2H stage 1, tagged by ASID (0 without E2H).
    El2 { asid: u16 },
    /// Stage 2 only, tagged by VMID.
    S2 { vmid: u16 },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TlbKey {
    pub(crate) tag: TlbTag,
    /// Input address bits [55:12].
    pub(crate) page: u64,
}
impl CacheKey for TlbKey {
    fn hash64(&self) -> u64 {
        let t = match self.tag {
            TlbTag::Nh { vmid, asid } => u64::from(vmid) << 16 | u64::from(asid),
            TlbTag::El2 { asid } => 1 << 40 | u64::from(asid),
            TlbTag::S2 { vmid } => 2 << 40 | u64::from(vmid),
        };
        mix(self.page, t)
    }
}

/// A cached translation (one 4 KiB page of a possibly larger block).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TlbEntry {
    /// Input address of the start of the block ([55:0]).
    pub(crate) block_base: u64,
    pub(crate) size_log2: u32,
    /// Output address of the start of the block.
    pub(crate) out_base: u64,
    /// IPA of the start of the block (nested entries).
    pub(crate) ipa_base: u64,
    /// Stage-1 leaf attributes and table attributes.
    pub(crate) s1: Option<(u64, u8)>,
    /// Stage-2 leaf attributes.
    pub(crate) s2: Option<u64>,
    /// `nG` = 0.
    pub(crate) global: bool,
}

impl TlbEntry {
    pub(crate) fn overlaps(&self, start: u64, len: u64) -> bool {
        let end = start.saturating_add(len.max(1));
        let b_end = self.block_base.saturating_add(1u64 << self.size_log2);
        self.block_base < end && start < b_end
    }
}

/// A cached STE: decoded, or invalid (`C_BAD_STE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CachedSte {
    Valid(SteInfo),
    Invalid,
}

#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) translations: AtomicU64,
    pub(crate) tlb_hits: AtomicU64,
    pub(crate) tlb_misses: AtomicU64,
    pub(crate) ste_fetches: AtomicU64,
    pub(crate) cd_fetches: AtomicU64,
    pub(crate) commands: AtomicU64,
    pub(crate) syncs: AtomicU64,
    pub(crate) msi_writes: AtomicU64,
    pub(crate) eventq_irqs: AtomicU64,
    pub(crate) gerror_irqs: AtomicU64,
    pub(crate) sync_irqs: AtomicU64,
    pub(crate) atc_invs: AtomicU64,
}

/// A snapshot of the model's activity counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Transactions translated (any outcome).
    pub translations: u64,
    /// TLB hits.
    pub tlb_hits: u64,
    /// TLB misses (walks started).
    pub tlb_misses: u64,
    /// STE fetches from memory (configuration cache misses).
    pub ste_fetches: u64,
    /// CD fetches from memory.
    pub cd_fetches: u64,
    /// Commands consumed successfully.
    pub commands: u64,
    /// `CMD_SYNC`s completed.
    pub syncs: u64,
    /// MSI writes performed (CMD_SYNC completion, event queue, GERROR).
    pub msi_writes: u64,
    /// Event queue interrupts signalled.
    pub eventq_irqs: u64,
    /// GERROR interrupts signalled.
    pub gerror_irqs: u64,
    /// `CMD_SYNC` wired interrupts (`CS` = SIG_IRQ without an MSI address).
    pub sync_irqs: u64,
    /// `CMD_ATC_INV` commands accepted.
    pub atc_invs: u64,
}

/// The SMMUv3 model. `Send + Sync`: share it with [`Arc`]. It outlives any driver
/// instance: a new driver (for example a kdump kernel) can attach to the same model
/// and memory at any time, and finds the registers, caches and tables as the previous
/// one left them.
pub struct Smmu {
    pub(crate) cfg: ModelConfig,
    pub(crate) mem: Arc<PhysMemory>,
    pub(crate) regs: Mutex<Regs>,
    pub(crate) cr0ack: AtomicU32,
    pub(crate) gbpa: AtomicU32,
    pub(crate) cr2: AtomicU32,
    pub(crate) strtab_base: AtomicU64,
    pub(crate) strtab_cfg: AtomicU32,
    pub(crate) irq_ctrlack: AtomicU32,
    pub(crate) gerror: AtomicU32,
    pub(crate) gerrorn: AtomicU32,
    pub(crate) gerror_irq_cfg0: AtomicU64,
    pub(crate) gerror_irq_cfg1: AtomicU32,
    pub(crate) evtq: Mutex<EventQueue>,
    /// Held for reading by every translation (walks, cache fills, event writes) and for
    /// writing by every invalidation and by `CMD_SYNC`, so that an invalidation or a
    /// sync completes only after the translations that started before it.
    pub(crate) walk_guard: RwLock<()>,
    pub(crate) l1_cache: SetAssoc<SidKey, u64>,
    pub(crate) ste_cache: SetAssoc<SidKey, CachedSte>,
    pub(crate) cd_cache: SetAssoc<CdKey, CdInfo>,
    pub(crate) tlb: SetAssoc<TlbKey, TlbEntry>,
    pub(crate) faults: FaultLog,
    pub(crate) stall_sync: AtomicBool,
    pub(crate) force_evtq_full: AtomicBool,
    pub(crate) counters: Counters,
    /// The opt-in log of consumed commands ([`Smmu::record_commands`]).
    pub(crate) cmd_log: Mutex<CommandLog>,
}

impl std::fmt::Debug for Smmu {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Smmu")
            .field("config", &self.cfg)
            .field("cr0ack", &self.cr0ack.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl Smmu {
    /// A model in its reset state, on the physical memory `mem`.
    #[must_use]
    pub fn new(cfg: ModelConfig, mem: Arc<PhysMemory>) -> Self {
        let cfg_cache = cfg.config_cache_entries.max(4);
        Self {
            regs: Mutex::new(Regs::default()),
            cr0ack: AtomicU32::new(0),
            gbpa: AtomicU32::new(cfg.gbpa_reset & GBPA_MASK),
            cr2: AtomicU32::new(0),
            strtab_base: AtomicU64::new(0),
            strtab_cfg: AtomicU32::new(0),
            irq_ctrlack: AtomicU32::new(0),
            gerror: AtomicU32::new(0),
            gerrorn: AtomicU32::new(0),
            gerror_irq_cfg0: AtomicU64::new(0),
            gerror_irq_cfg1: AtomicU32::new(0),
            evtq: Mutex::new(EventQueue::default()),
            walk_guard: RwLock::new(()),
            l1_cache: SetAssoc::new(cfg_cache / 4, 4),
            ste_cache: SetAssoc::new(cfg_cache, 4),
            cd_cache: SetAssoc::new(cfg_cache, 4),
            tlb: SetAssoc::new(cfg.tlb_entries.max(8), 8),
            faults: FaultLog::new(cfg.fault_log_capacity),
            stall_sync: AtomicBool::new(false),
            force_evtq_full: AtomicBool::new(false),
            counters: Counters::default(),
            cmd_log: Mutex::new(CommandLog::default()),
            cfg,
            mem,
        }
    }

    /// The configuration the model was built with.
    #[must_use]
    pub fn config(&self) -> &ModelConfig {
        &self.cfg
    }

    /// The physical memory the model walks and DMA lands in.
    #[must_use]
    pub fn memory(&self) -> &Arc<PhysMemory> {
        &self.mem
    }

    pub(crate) fn walk_read(&self) -> RwLockReadGuard<'_, ()> {
        self.walk_guard
            .read()
            .unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn walk_write(&self) -> RwLockWriteGuard<'_, ()> {
        self.walk_guard
            .write()
            .unwrap_or_else(PoisonError::into_inner)
    }

    // ----------------------------------------------------------------------------
    // Register access
    // ----------------------------------------------------------------------------

    /// Reads the 32-bit register at `offset` (page 0 at 0, page 1 at 0x10000). Halves
    /// of 64-bit registers are at +0 / +4. Unknown or misaligned offsets read as zero.
    #[must_use]
    pub fn read32(&self, offset: u32) -> u32 {
        if !offset.is_multiple_of(4) {
            return 0;
        }
        let base = offset & !7;
        if is_reg64(base) {
            let v = self.read_reg64(base);
            return if offset & 4 == 0 {
                v as u32
            } else {
                (v >> 32) as u32
            };
        }
        let c = &self.cfg;
        match offset {
            IDR0 => c.idr0(),
            IDR1 => c.idr1(),
            IDR3 => c.idr3(),
            IDR5 => c.idr5(),
            AIDR => c.aidr(),
            CR0 => lock(&self.regs).cr0,
            CR0ACK => self.cr0ack.load(Ordering::Acquire),
            CR1 => lock(&self.regs).cr1,
            CR2 => self.cr2.load(Ordering::Acquire),
            GBPA => self.gbpa.load(Ordering::Acquire),
            IRQ_CTRL => lock(&self.regs).irq_ctrl,
            IRQ_CTRLACK => self.irq_ctrlack.load(Ordering::Acquire),
            GERROR => self.gerror.load(Ordering::Acquire),
            GERRORN => self.gerrorn.load(Ordering::Acquire),
            GERROR_IRQ_CFG1 => self.gerror_irq_cfg1.load(Ordering::Acquire),
            GERROR_IRQ_CFG2 => lock(&self.regs).gerror_irq_cfg2,
            STRTAB_BASE_CFG => self.strtab_cfg.load(Ordering::Acquire),
            CMDQ_PROD => lock(&self.regs).cmdq_prod,
            CMDQ_CONS => lock(&self.regs).cmdq_cons,
            EVENTQ_IRQ_CFG1 => lock(&self.evtq).irq_cfg1,
            EVENTQ_IRQ_CFG2 => lock(&self.evtq).irq_cfg2,
            PRIQ_IRQ_CFG1 => lock(&self.regs).priq_irq_cfg1,
            PRIQ_IRQ_CFG2 => lock(&self.regs).priq_irq_cfg2,
            EVENTQ_PROD => lock(&self.evtq).prod,
            EVENTQ_CONS => lock(&self.evtq).cons,
            PRIQ_PROD => lock(&self.regs).priq_prod,
            PRIQ_CONS => lock(&self.regs).priq_cons,
            _ => 0,
        }
    }

    /// Reads a 64-bit register at `offset`; any other 8-byte aligned offset reads as
    /// two 32-bit registers (low at `offset`, high at `offset + 4`).
    #[must_use]
    pub fn read64(&self, offset: u32) -> u64 {
        if offset.is_multiple_of(8) && is_reg64(offset) {
            return self.read_reg64(offset);
        }
        u64::from(self.read32(offset)) | u64::from(self.read32(offset.wrapping_add(4))) << 32
    }

    fn read_reg64(&self, off: u32) -> u64 {
        match off {
            GERROR_IRQ_CFG0 => self.gerror_irq_cfg0.load(Ordering::Acquire),
            STRTAB_BASE => self.strtab_base.load(Ordering::Acquire),
            CMDQ_BASE => lock(&self.regs).cmdq_base,
            EVENTQ_BASE => lock(&self.evtq).base,
            EVENTQ_IRQ_CFG0 => lock(&self.evtq).irq_cfg0,
            PRIQ_BASE => lock(&self.regs).priq_base,
            PRIQ_IRQ_CFG0 => lock(&self.regs).priq_irq_cfg0,
            _ => 0,
        }
    }

    /// Writes the 32-bit register at `offset`, with the spec's side effects. Writes to
    /// read-only, unknown or misaligned offsets are ignored. A write to `CMDQ_PROD`,
    /// `CR0` or `GERRORN` consumes commands synchronously (unless the model was built
    /// with [`CmdqMode::Manual`]).
    pub fn write32(&self, offset: u32, value: u32) {
        if !offset.is_multiple_of(4) {
            return;
        }
        let base = offset & !7;
        let mut regs = lock(&self.regs);
        if is_reg64(base) {
            let old = self.read_reg64_locked(&regs, base);
            let new = if offset & 4 == 0 {
                (old & !0xFFFF_FFFF) | u64::from(value)
            } else {
                (old & 0xFFFF_FFFF) | u64::from(value) << 32
            };
            self.write_reg64_locked(&mut regs, base, new);
            return;
        }
        let cmdq_kick = self.write_reg32_locked(&mut regs, offset, value);
        if cmdq_kick && self.cfg.cmdq_mode == CmdqMode::Synchronous {
            self.consume_commands(&mut regs);
        }
    }

    /// Writes a 64-bit register at `offset`; any other 8-byte aligned offset is written
    /// as two 32-bit registers (low half first).
    pub fn write64(&self, offset: u32, value: u64) {
        if offset.is_multiple_of(8) && is_reg64(offset) {
            let mut regs = lock(&self.regs);
            self.write_reg64_locked(&mut regs, offset, value);
            return;
        }
        self.write32(offset, value as u32);
        self.write32(offset.wrapping_add(4), (value >> 32) as u32);
    }

    fn read_reg64_locked(&self, regs: &Regs, off: u32) -> u64 {
        match off {
            CMDQ_BASE => regs.cmdq_base,
            PRIQ_BASE => regs.priq_base,
            PRIQ_IRQ_CFG0 => regs.priq_irq_cfg0,
            _ => self.read_reg64(off),
        }
    }

    fn smmu_en_or_ack(&self, regs: &Regs, bit: u32) -> bool {
        (regs.cr0 | self.cr0ack.load(Ordering::Acquire)) & bit != 0
    }

    fn irq_en(&self, regs: &Regs, bit: u32) -> bool {
        self.cfg.msi && (regs.irq_ctrl | self.irq_ctrlack.load(Ordering::Acquire)) & bit != 0
    }

    fn write_reg64_locked(&self, regs: &mut Regs, off: u32, v: u64) {
        match off {
            GERROR_IRQ_CFG0 if !self.irq_en(regs, IRQ_GERROR) => {
                self.gerror_irq_cfg0
                    .store(v & IRQ_CFG0_MASK, Ordering::Release);
            }
            STRTAB_BASE if !self.smmu_en_or_ack(regs, CR0_SMMUEN) => {
                self.strtab_base
                    .store(v & STRTAB_BASE_MASK, Ordering::Release);
            }
            CMDQ_BASE if !self.smmu_en_or_ack(regs, CR0_CMDQEN) => regs.cmdq_base = v & Q_BASE_MASK,
            EVENTQ_BASE if !self.smmu_en_or_ack(regs, CR0_EVENTQEN) => {
                lock(&self.evtq).base = v & Q_BASE_MASK;
            }
            EVENTQ_IRQ_CFG0 if !self.irq_en(regs, IRQ_EVENTQ) => {
                lock(&self.evtq).irq_cfg0 = v & IRQ_CFG0_MASK;
            }
            PRIQ_BASE if !self.smmu_en_or_ack(regs, CR0_PRIQEN) => regs.priq_base = v & Q_BASE_MASK,
            PRIQ_IRQ_CFG0 if !self.irq_en(regs, IRQ_PRIQ) => regs.priq_irq_cfg0 = v & IRQ_CFG0_MASK,
            _ => {}
        }
    }

    /// Returns whether command consumption should run.
    fn write_reg32_locked(&self, regs: &mut Regs, off: u32, v: u32) -> bool {
        let c = &self.cfg;
        match off {
            CR0 => {
                let mut mask = CR0_SMMUEN | CR0_EVENTQEN | CR0_CMDQEN;
                if c.pri {
                    mask |= CR0_PRIQEN;
                }
                if c.ats {
                    mask |= CR0_ATSCHK;
                }
                let v = v & mask;
                regs.cr0 = v;
                // The update takes effect at once (a permitted implementation);
                // software still polls CR0ACK.
                lock(&self.evtq).enabled = v & CR0_EVENTQEN != 0;
                self.cr0ack.store(v, Ordering::Release);
                return v & CR0_CMDQEN != 0;
            }
            CR1 if !self.smmu_en_or_ack(regs, CR0_SMMUEN) => regs.cr1 = v & 0xFFF,
            CR2 if !self.smmu_en_or_ack(regs, CR0_SMMUEN) => {
                let mut mask = CR2_RECINVSID;
                if c.hyp {
                    mask |= CR2_E2H;
                }
                if c.btm {
                    mask |= CR2_PTM;
                }
                if c.ats {
                    mask |= CR2_REC_CFG_ATS;
                }
                self.cr2.store(v & mask, Ordering::Release);
            }
            // v3.2: a write without Update, or while Update reads 1, is ignored. The
            // update completes at once, so Update never reads 1.
            GBPA if v & GBPA_UPDATE != 0 => self.gbpa.store(v & GBPA_MASK, Ordering::Release),
            IRQ_CTRL => {
                let mut mask = IRQ_GERROR | IRQ_EVENTQ;
                if c.pri {
                    mask |= IRQ_PRIQ;
                }
                regs.irq_ctrl = v & mask;
                self.irq_ctrlack.store(v & mask, Ordering::Release);
            }
            GERRORN => {
                self.gerrorn.store(v & GERROR_MASK, Ordering::Release);
                return true;
            }
            GERROR_IRQ_CFG1 if !self.irq_en(regs, IRQ_GERROR) => {
                self.gerror_irq_cfg1.store(v, Ordering::Release);
            }
            GERROR_IRQ_CFG2 if !self.irq_en(regs, IRQ_GERROR) => regs.gerror_irq_cfg2 = v & 0x3F,
            STRTAB_BASE_CFG if !self.smmu_en_or_ack(regs, CR0_SMMUEN) => {
                let mask = if c.two_level_strtab { 0x3_07FF } else { 0x3F };
                self.strtab_cfg.store(v & mask, Ordering::Release);
            }
            CMDQ_PROD => {
                regs.cmdq_prod = v & 0xF_FFFF;
                return true;
            }
            CMDQ_CONS if !self.smmu_en_or_ack(regs, CR0_CMDQEN) => {
                regs.cmdq_cons = (regs.cmdq_cons & !0xF_FFFF) | (v & 0xF_FFFF);
            }
            EVENTQ_IRQ_CFG1 if !self.irq_en(regs, IRQ_EVENTQ) => lock(&self.evtq).irq_cfg1 = v,
            EVENTQ_IRQ_CFG2 if !self.irq_en(regs, IRQ_EVENTQ) => {
                lock(&self.evtq).irq_cfg2 = v & 0x3F;
            }
            PRIQ_IRQ_CFG1 if !self.irq_en(regs, IRQ_PRIQ) => regs.priq_irq_cfg1 = v,
            PRIQ_IRQ_CFG2 if !self.irq_en(regs, IRQ_PRIQ) => regs.priq_irq_cfg2 = v & 0x3F,
            EVENTQ_PROD if !self.smmu_en_or_ack(regs, CR0_EVENTQEN) => {
                lock(&self.evtq).prod = v & 0x800F_FFFF;
            }
            EVENTQ_CONS => lock(&self.evtq).cons = v & 0x800F_FFFF,
            PRIQ_PROD if !self.smmu_en_or_ack(regs, CR0_PRIQEN) => regs.priq_prod = v & 0x800F_FFFF,
            PRIQ_CONS => regs.priq_cons = v & 0x800F_FFFF,
            _ => {}
        }
        false
    }

    // ----------------------------------------------------------------------------
    // Global errors, interrupts, events
    // ----------------------------------------------------------------------------

    pub(crate) fn gerror_active(&self, bit: u32) -> bool {
        (self.gerror.load(Ordering::Acquire) ^ self.gerrorn.load(Ordering::Acquire)) & bit != 0
    }

    /// Toggles GERROR bit `bit` unless that error is already active; signals the
    /// GERROR interrupt when it is enabled.
    pub(crate) fn raise_gerror(&self, bit: u32) {
        let mut cur = self.gerror.load(Ordering::Acquire);
        loop {
            if (cur ^ self.gerrorn.load(Ordering::Acquire)) & bit != 0 {
                return;
            }
            match self.gerror.compare_exchange_weak(
                cur,
                cur ^ bit,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => break,
                Err(a) => cur = a,
            }
        }
        if self.irq_ctrlack.load(Ordering::Acquire) & IRQ_GERROR != 0 {
            self.counters.gerror_irqs.fetch_add(1, Ordering::Relaxed);
            let addr = self.gerror_irq_cfg0.load(Ordering::Acquire);
            if self.cfg.msi && addr != 0 {
                let data = self.gerror_irq_cfg1.load(Ordering::Acquire);
                if self.mem.write_u32(addr, data).is_ok() {
                    self.counters.msi_writes.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    }

    /// Writes `rec` to the event queue (spec §6) and returns what happened to it.
    fn emit(&self, rec: &EventRecord) -> Disposition {
        let mut q = lock(&self.evtq);
        if !q.enabled {
            return Disposition::QueueDisabled;
        }
        let g = QueueGeom::new(q.base, self.cfg.eventqs(), 32);
        let full = self.force_evtq_full.load(Ordering::Acquire) || g.is_full(q.prod, q.cons);
        if full {
            // Toggle OVFLG unless an overflow is already outstanding.
            if (q.prod ^ q.cons) & (1 << 31) == 0 {
                q.prod ^= 1 << 31;
            }
            return Disposition::Overflow;
        }
        let addr = g.base + u64::from(g.index(q.prod)) * 32;
        let words = rec.to_words();
        for (i, w) in words.iter().enumerate() {
            if self.mem.write_u64(addr + 8 * i as u64, *w).is_err() {
                drop(q);
                self.raise_gerror(GERROR_EVENTQ_ABT_ERR);
                return Disposition::WriteAborted;
            }
        }
        q.prod = (q.prod & (1 << 31)) | g.inc(q.prod);
        let (cfg0, cfg1) = (q.irq_cfg0, q.irq_cfg1);
        drop(q);
        if self.irq_ctrlack.load(Ordering::Acquire) & IRQ_EVENTQ != 0 {
            self.counters.eventq_irqs.fetch_add(1, Ordering::Relaxed);
            if self.cfg.msi && cfg0 != 0 {
                if self.mem.write_u32(cfg0, cfg1).is_ok() {
                    self.counters.msi_writes.fetch_add(1, Ordering::Relaxed);
                } else {
                    self.raise_gerror(GERROR_MSI_EVENTQ_ABT_ERR);
                }
            }
        }
        Disposition::Written
    }

    /// Raises an event: records it in the queue when `record` is set, logs it always.
    pub(crate) fn raise(&self, rec: EventRecord, record: bool) -> Disposition {
        let disposition = if record {
            self.emit(&rec)
        } else {
            Disposition::NotRecorded
        };
        self.faults.push(FaultLogEntry {
            record: rec,
            disposition,
        });
        disposition
    }

    // ----------------------------------------------------------------------------
    // Inspection and fault injection
    // ----------------------------------------------------------------------------

    /// The most recent faults raised (recorded in the event queue or not), oldest
    /// first, up to the configured capacity.
    #[must_use]
    pub fn fault_log(&self) -> Vec<FaultLogEntry> {
        self.faults.recent()
    }

    /// How many faults of type `id` were raised since the model was created.
    #[must_use]
    pub fn fault_count(&self, id: crate::EventId) -> u64 {
        self.faults.count(id)
    }

    /// How many faults were raised in total since the model was created.
    #[must_use]
    pub fn fault_total(&self) -> u64 {
        self.faults.total()
    }

    /// How many raised faults ended with disposition `d`.
    #[must_use]
    pub fn fault_disposition_count(&self, d: Disposition) -> u64 {
        self.faults.count_disposition(d)
    }

    /// Empties the recent-fault list (counters are kept).
    pub fn clear_fault_log(&self) {
        self.faults.clear();
    }

    /// A snapshot of the activity counters.
    #[must_use]
    pub fn stats(&self) -> Stats {
        let c = &self.counters;
        let l = |a: &AtomicU64| a.load(Ordering::Relaxed);
        Stats {
            translations: l(&c.translations),
            tlb_hits: l(&c.tlb_hits),
            tlb_misses: l(&c.tlb_misses),
            ste_fetches: l(&c.ste_fetches),
            cd_fetches: l(&c.cd_fetches),
            commands: l(&c.commands),
            syncs: l(&c.syncs),
            msi_writes: l(&c.msi_writes),
            eventq_irqs: l(&c.eventq_irqs),
            gerror_irqs: l(&c.gerror_irqs),
            sync_irqs: l(&c.sync_irqs),
            atc_invs: l(&c.atc_invs),
        }
    }

    /// Number of valid entries in the TLB.
    #[must_use]
    pub fn tlb_len(&self) -> usize {
        self.tlb.len()
    }

    /// Number of STEs (valid or invalid) in the configuration cache.
    #[must_use]
    pub fn cached_ste_count(&self) -> usize {
        self.ste_cache.len()
    }

    /// Fault injection: while `on`, command consumption stops at every `CMD_SYNC`
    /// without completing it (CONS stays on the sync). Turning it off does not restart
    /// consumption by itself: the next `CMDQ_PROD` write or
    /// [`process_commands`](Self::process_commands) does.
    pub fn inject_cmd_sync_stall(&self, on: bool) {
        self.stall_sync.store(on, Ordering::Release);
    }

    /// Fault injection: while `on`, the event queue behaves as full (records are
    /// discarded and OVFLG toggles as for an overflow).
    pub fn inject_event_queue_full(&self, on: bool) {
        self.force_evtq_full.store(on, Ordering::Release);
    }

    /// Fault injection: the SMMU enters Service Failure Mode (`GERROR.SFM_ERR` is
    /// toggled unless already active). Translation is not otherwise affected.
    pub fn inject_sfm(&self) {
        self.raise_gerror(GERROR_SFM_ERR);
    }

    /// Consumes the command queue now (the only way commands run in
    /// [`CmdqMode::Manual`]; harmless in synchronous mode).
    pub fn process_commands(&self) {
        let mut regs = lock(&self.regs);
        self.consume_commands(&mut regs);
    }
}
