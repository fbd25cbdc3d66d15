//! `model_translate` fixture: a `smmu-model` SMMU whose tables are written by hand as raw
//! words in model memory (spec §1.6, §2.1, §2.4, §2.5, VMSAv8-64 4 KiB descriptors).
//!
//! * Stream table: 2-level, LOG2SIZE 16, SPLIT 8 (256 L1 descriptors, Span 9, one 16 KiB
//!   L2 table per L1 descriptor).
//! * [`STREAMS`] StreamIDs `sid_k = k << 8 | k`, one per L1 range, each with a stage-1 STE
//!   (Config 0b101, S1CDMax 0) pointing at its own CD (ASID k + 1, 48-bit VA, 4 KiB
//!   granule, TTB0 = one shared 4-level table).
//! * Page `k` of the shared table maps `VA_BASE + k * 4 KiB` to data page `k`.
//!
//! The three translation workloads ([`Workload`]) and the baseline (a plain
//! [`PhysMemory::read_u64`] of the translated physical address) are described in the
//! bench docs and in `benches/README.md`.

use std::sync::Arc;

use smmu_model::{ModelConfig, PhysMemory, RegionKind, Smmu, Transaction, TranslationKind};

/// Distinct streams (and distinct pages) per cold batch.
pub const STREAMS: usize = 256;

// Register offsets (spec §1.1) and bits (§1.5).
const CR0: u32 = 0x20;
const CR0ACK: u32 = 0x24;
const STRTAB_BASE: u32 = 0x80;
const STRTAB_BASE_CFG: u32 = 0x88;
const CMDQ_BASE: u32 = 0x90;
const CMDQ_PROD: u32 = 0x98;
const CMDQ_CONS: u32 = 0x9C;
const SMMUEN: u32 = 1 << 0;
const CMDQEN: u32 = 1 << 3;
const CMDQ_LOG2: u32 = 8;

// Commands (spec §4.1, §4.2).
const CMD_CFGI_ALL: (u64, u64) = (0x04, 31); // CFGI_STE_RANGE, Range = 31
const CMD_TLBI_NSNH_ALL: (u64, u64) = (0x30, 0);
const CMD_SYNC: (u64, u64) = (0x46, 0); // CS = SIG_NONE

const RAM: u64 = 0x4000_0000;
const RAM_LEN: u64 = 64 << 20;
/// First input address of the mapped pages.
pub const VA_BASE: u64 = 0x0000_0012_3400_0000;
/// Stage-1 page attributes: AF, SH = inner, AP = 0b01 (RW at EL0/EL1), nG.
const S1_PAGE: u64 = (1 << 10) | (3 << 8) | (1 << 6) | (1 << 11);

/// A translation workload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Workload {
    /// The same transaction (stream 0, page 0) again and again: configuration caches and
    /// TLB hit.
    TlbHit,
    /// Stream 0, [`STREAMS`] distinct pages after `CMD_TLBI_NSNH_ALL` (untimed): STE and
    /// CD come from the configuration caches, every translation is a TLB miss and a
    /// 4-level stage-1 walk.
    TlbMiss,
    /// [`STREAMS`] distinct streams and pages after `CMD_CFGI_ALL` + `CMD_TLBI_NSNH_ALL`
    /// (untimed): every translation fetches the L1 descriptor, the STE (8 words) and the
    /// CD (8 words), decodes and validates them, walks the 4 stage-1 levels and fills
    /// the L1STD, STE, CD and TLB caches.
    FullWalk,
}

/// The model, its memory and the transactions of each workload with their expected
/// output addresses.
pub struct ModelFixture {
    /// The model memory (the baseline reads it).
    pub mem: Arc<PhysMemory>,
    /// The SMMU.
    pub smmu: Smmu,
    cmdq: u64,
    hot: (Transaction, u64),
    tlb_miss: Vec<(Transaction, u64)>,
    full_walk: Vec<(Transaction, u64)>,
}

impl std::fmt::Debug for ModelFixture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ModelFixture").finish_non_exhaustive()
    }
}

/// A CD (spec §2.5): T0SZ 16 (48-bit VA), TG0 4K, IR0/OR0 WB, SH0 inner, EPD1, V,
/// IPS 48 bits, AA64, R, A, `asid`; TTB0 in dw1; MAIR in dw3.
fn cd(asid: u16, ttb0: u64) -> [u64; 8] {
    let dw0 = 16
        | (1 << 8)
        | (1 << 10)
        | (3 << 12)
        | (1 << 30)
        | (1 << 31)
        | (5 << 32)
        | (1 << 41)
        | (1 << 45)
        | (1 << 46)
        | (u64::from(asid) << 48);
    [dw0, ttb0, 0, 0xFF, 0, 0, 0, 0]
}

impl ModelFixture {
    /// Builds memory, tables and the SMMU (enabled), and checks every workload.
    ///
    /// # Panics
    ///
    /// On a setup error or a failed check.
    #[must_use]
    pub fn new() -> Self {
        let mem = Arc::new(PhysMemory::new());
        mem.add_region(RAM, RAM_LEN, RegionKind::Ram).expect("RAM");
        let smmu = Smmu::new(ModelConfig::default(), Arc::clone(&mem));
        let alloc = |len: u64, align: u64| mem.alloc(RegionKind::Ram, len, align).expect("alloc");
        let write = |pa: u64, v: u64| mem.write_u64(pa, v).expect("write");

        // Command queue (§1.6): base | LOG2SIZE, PROD = CONS = 0, CMDQEN.
        let cmdq = alloc(16 << CMDQ_LOG2, 4096);
        smmu.write64(CMDQ_BASE, cmdq | u64::from(CMDQ_LOG2));
        smmu.write32(CMDQ_PROD, 0);
        smmu.write32(CMDQ_CONS, 0);

        // 2-level stream table (§1.6 STRTAB_BASE_CFG: FMT[17:16] = 1, SPLIT[10:6] = 8,
        // LOG2SIZE[5:0] = 16).
        let l1 = alloc(256 * 8, 4096);
        smmu.write64(STRTAB_BASE, l1);
        smmu.write32(STRTAB_BASE_CFG, (1 << 16) | (8 << 6) | 16);

        let root = alloc(4096, 4096);
        let cds = alloc(64 * STREAMS as u64, 4096);
        let data = alloc(4096 * STREAMS as u64, 4096);
        let next_table = |table: u64, idx: u64| {
            let slot = table + idx * 8;
            let d = mem.read_u64(slot).expect("read");
            if d & 3 == 3 {
                d & 0x0000_FFFF_FFFF_F000
            } else {
                let t = alloc(4096, 4096);
                write(slot, t | 3);
                t
            }
        };
        let mut full_walk = Vec::with_capacity(STREAMS);
        let mut tlb_miss = Vec::with_capacity(STREAMS);
        for k in 0..STREAMS as u64 {
            // L1 descriptor k (§2.4): L2Ptr | Span 9 (256 STEs, 16 KiB aligned).
            let l2 = alloc(256 * 64, 16384);
            write(l1 + k * 8, l2 | 9);
            // STE (§2.1): dw1..7 first, dw0 last: V | Config = 0b101 | S1ContextPtr.
            let sid = ((k << 8) | k) as u32;
            let ste = l2 + (k & 0xff) * 64;
            let cd_pa = cds + k * 64;
            for (i, w) in cd(k as u16 + 1, root).iter().enumerate() {
                write(cd_pa + 8 * i as u64, *w);
            }
            write(ste, 1 | (0b101 << 1) | cd_pa);
            // Page k: 4 levels (L0..L2 tables, L3 page descriptor).
            let va = VA_BASE + k * 4096;
            let mut table = root;
            for level in 0..3 {
                table = next_table(table, (va >> (39 - 9 * level)) & 0x1FF);
            }
            let page = data + k * 4096;
            write(table + ((va >> 12) & 0x1FF) * 8, page | S1_PAGE | 3);
            full_walk.push((Transaction::read(sid, va + 0x10, 8), page + 0x10));
        }
        let sid0 = full_walk[0].0.sid;
        for k in 0..STREAMS as u64 {
            let va = VA_BASE + k * 4096 + 0x10;
            tlb_miss.push((Transaction::read(sid0, va, 8), data + k * 4096 + 0x10));
        }
        let hot = full_walk[0];

        smmu.write32(CR0, CMDQEN | SMMUEN);
        assert_eq!(smmu.read32(CR0ACK), CMDQEN | SMMUEN, "SMMU enabled");
        let fx = Self {
            mem,
            smmu,
            cmdq,
            hot,
            tlb_miss,
            full_walk,
        };
        fx.check();
        fx
    }

    /// The transactions of `w` with their expected output addresses.
    #[must_use]
    pub fn transactions(&self, w: Workload) -> &[(Transaction, u64)] {
        match w {
            Workload::TlbHit => std::slice::from_ref(&self.hot),
            Workload::TlbMiss => &self.tlb_miss,
            Workload::FullWalk => &self.full_walk,
        }
    }

    fn submit(&self, (dw0, dw1): (u64, u64)) {
        let prod = self.smmu.read32(CMDQ_PROD);
        let slot = self.cmdq + u64::from(prod & ((1 << CMDQ_LOG2) - 1)) * 16;
        self.mem.write_u64(slot, dw0).expect("cmdq");
        self.mem.write_u64(slot + 8, dw1).expect("cmdq");
        self.smmu
            .write32(CMDQ_PROD, (prod + 1) & ((2 << CMDQ_LOG2) - 1));
    }

    /// Puts the caches in the state `w` starts from (untimed in the bench):
    /// * `TlbHit`: translates the hot transaction once (everything cached);
    /// * `TlbMiss`: translates the hot transaction (configuration cached), then
    ///   `CMD_TLBI_NSNH_ALL` + `CMD_SYNC` (TLB empty);
    /// * `FullWalk`: `CMD_CFGI_ALL` + `CMD_TLBI_NSNH_ALL` + `CMD_SYNC` (all empty).
    pub fn prepare(&self, w: Workload) {
        match w {
            Workload::TlbHit => {
                let _ = self.smmu.translate(&self.hot.0);
            }
            Workload::TlbMiss => {
                let _ = self.smmu.translate(&self.hot.0);
                self.submit(CMD_TLBI_NSNH_ALL);
                self.submit(CMD_SYNC);
            }
            Workload::FullWalk => {
                self.submit(CMD_CFGI_ALL);
                self.submit(CMD_TLBI_NSNH_ALL);
                self.submit(CMD_SYNC);
            }
        }
    }

    /// Checks that every workload translates to the expected addresses with the
    /// expected amount of work (from the model's counters), that the commands completed,
    /// and that the baseline reads the same words.
    ///
    /// # Panics
    ///
    /// On any mismatch.
    pub fn check(&self) {
        for (k, &(_, pa)) in self.full_walk.iter().enumerate() {
            self.mem.write_u64(pa, 0x1000 + k as u64).expect("data");
        }
        for w in [Workload::TlbHit, Workload::TlbMiss, Workload::FullWalk] {
            self.prepare(w);
            let before = self.smmu.stats();
            for &(t, pa) in self.transactions(w) {
                let x = self.smmu.translate(&t).expect("translates");
                assert_eq!(x.pa, pa, "{w:?}: output address");
                assert_eq!(x.kind, TranslationKind::Stage1);
                assert_eq!(x.tlb_hit, w == Workload::TlbHit, "{w:?}: TLB");
                assert!(self.mem.read_u64(pa).expect("baseline") >= 0x1000);
            }
            let after = self.smmu.stats();
            let n = self.transactions(w).len() as u64;
            let (ste, cd, miss) = match w {
                Workload::TlbHit | Workload::TlbMiss => {
                    (0, 0, n * u64::from(w != Workload::TlbHit))
                }
                Workload::FullWalk => (n, n, n),
            };
            assert_eq!(
                after.ste_fetches - before.ste_fetches,
                ste,
                "{w:?}: STE fetches"
            );
            assert_eq!(
                after.cd_fetches - before.cd_fetches,
                cd,
                "{w:?}: CD fetches"
            );
            assert_eq!(
                after.tlb_misses - before.tlb_misses,
                miss,
                "{w:?}: TLB misses"
            );
        }
        let prod = self.smmu.read32(CMDQ_PROD);
        assert_eq!(
            self.smmu.read32(CMDQ_CONS),
            prod,
            "commands consumed, no error"
        );
        assert_eq!(self.smmu.fault_total(), 0, "no fault");
    }
}

impl Default for ModelFixture {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workloads_translate_as_expected() {
        // `new` runs `check`; run it a second time on warm caches.
        let fx = ModelFixture::new();
        fx.check();
    }
}
