//! Test rig: model memory, queues, and tables written BY HAND as raw words from the
//! spec (shared/spec/smmuv3.md section numbers in the comments). Nothing here uses
//! another project crate to build a structure.
#![allow(dead_code, clippy::identity_op)] // zero-valued fields are spelled out to mirror the spec tables

use std::sync::Arc;

use smmu_model::{ModelConfig, PhysMemory, RegionKind, Smmu};

// §1.1 register offsets.
pub const IDR0: u32 = 0x00;
pub const IDR1: u32 = 0x04;
pub const IDR3: u32 = 0x0C;
pub const IDR5: u32 = 0x14;
pub const AIDR: u32 = 0x1C;
pub const CR0: u32 = 0x20;
pub const CR0ACK: u32 = 0x24;
pub const CR1: u32 = 0x28;
pub const CR2: u32 = 0x2C;
pub const GBPA: u32 = 0x44;
pub const IRQ_CTRL: u32 = 0x50;
pub const IRQ_CTRLACK: u32 = 0x54;
pub const GERROR: u32 = 0x60;
pub const GERRORN: u32 = 0x64;
pub const GERROR_IRQ_CFG0: u32 = 0x68;
pub const STRTAB_BASE: u32 = 0x80;
pub const STRTAB_BASE_CFG: u32 = 0x88;
pub const CMDQ_BASE: u32 = 0x90;
pub const CMDQ_PROD: u32 = 0x98;
pub const CMDQ_CONS: u32 = 0x9C;
pub const EVENTQ_BASE: u32 = 0xA0;
pub const EVENTQ_IRQ_CFG0: u32 = 0xB0;
pub const EVENTQ_PROD: u32 = 0x100A8;
pub const EVENTQ_CONS: u32 = 0x100AC;

// §1.5 CR0 bits.
pub const SMMUEN: u32 = 1 << 0;
pub const EVENTQEN: u32 = 1 << 2;
pub const CMDQEN: u32 = 1 << 3;
// §1.5 CR2.RECINVSID.
pub const RECINVSID: u32 = 1 << 1;

pub const RAM: u64 = 0x4000_0000;
pub const RAM_LEN: u64 = 256 << 20;
pub const CRASH: u64 = 0x8000_0000;
pub const CRASH_LEN: u64 = 64 << 20;

pub const CMDQ_LOG2: u32 = 8;
pub const EVTQ_LOG2: u32 = 4;

// §5.1 event IDs.
pub const C_BAD_STREAMID: u64 = 0x02;
pub const F_STE_FETCH: u64 = 0x03;
pub const C_BAD_STE: u64 = 0x04;
pub const F_STREAM_DISABLED: u64 = 0x06;
pub const C_BAD_SUBSTREAMID: u64 = 0x08;
pub const F_CD_FETCH: u64 = 0x09;
pub const C_BAD_CD: u64 = 0x0A;
pub const F_WALK_EABT: u64 = 0x0B;
pub const F_TRANSLATION: u64 = 0x10;
pub const F_ADDR_SIZE: u64 = 0x11;
pub const F_ACCESS: u64 = 0x12;
pub const F_PERMISSION: u64 = 0x13;

// Stage-1 leaf attributes (VMSAv8-64): AF[10], SH[9:8] = inner, AP[7:6], AttrIndx[4:2].
pub const S1_AF: u64 = 1 << 10;
pub const S1_SH_IS: u64 = 3 << 8;
/// AP = 0b01: read/write at EL0 and EL1.
pub const S1_RW: u64 = S1_AF | S1_SH_IS | 1 << 6;
/// AP = 0b11: read-only at EL0 and EL1.
pub const S1_RO: u64 = S1_AF | S1_SH_IS | 3 << 6;
/// nG[11]: the entry is tagged by ASID.
pub const S1_NG: u64 = 1 << 11;
// Stage-2 leaf attributes: AF[10], SH[9:8], S2AP[7:6] (6 = read, 7 = write), MemAttr[5:2].
pub const S2_RW: u64 = 1 << 10 | 3 << 8 | 3 << 6 | 0xF << 2;
pub const S2_RO: u64 = 1 << 10 | 3 << 8 | 1 << 6 | 0xF << 2;

pub struct Rig {
    pub mem: Arc<PhysMemory>,
    pub smmu: Arc<Smmu>,
    pub cmdq: u64,
    pub evtq: u64,
    pub strtab: u64,
}

impl Rig {
    pub fn new() -> Self {
        Self::with_config(ModelConfig::default())
    }

    /// Memory, queues programmed and enabled (CMDQEN, EVENTQEN), CR2.RECINVSID; the
    /// SMMU itself is not yet enabled.
    pub fn with_config(cfg: ModelConfig) -> Self {
        let mem = Arc::new(PhysMemory::new());
        mem.add_region(RAM, RAM_LEN, RegionKind::Ram).unwrap();
        mem.add_region(CRASH, CRASH_LEN, RegionKind::CrashKernel)
            .unwrap();
        let smmu = Arc::new(Smmu::new(cfg, Arc::clone(&mem)));
        let cmdq = mem.alloc(RegionKind::Ram, 16 << CMDQ_LOG2, 4096).unwrap();
        let evtq = mem.alloc(RegionKind::Ram, 32 << EVTQ_LOG2, 4096).unwrap();
        // §1.6: *_BASE = ADDR | LOG2SIZE; then PROD/CONS; then the enable bits.
        smmu.write64(CMDQ_BASE, cmdq | u64::from(CMDQ_LOG2));
        smmu.write32(CMDQ_PROD, 0);
        smmu.write32(CMDQ_CONS, 0);
        smmu.write64(EVENTQ_BASE, evtq | u64::from(EVTQ_LOG2));
        smmu.write32(EVENTQ_PROD, 0);
        smmu.write32(EVENTQ_CONS, 0);
        smmu.write32(CR2, RECINVSID);
        smmu.write32(CR0, CMDQEN | EVENTQEN);
        assert_eq!(smmu.read32(CR0ACK), CMDQEN | EVENTQEN);
        Self {
            mem,
            smmu,
            cmdq,
            evtq,
            strtab: 0,
        }
    }

    pub fn alloc(&self, len: u64, align: u64) -> u64 {
        self.mem.alloc(RegionKind::Ram, len, align).unwrap()
    }

    pub fn enable(&self) {
        let cr0 = self.smmu.read32(CR0) | SMMUEN;
        self.smmu.write32(CR0, cr0);
        assert_eq!(self.smmu.read32(CR0ACK) & SMMUEN, SMMUEN);
    }

    // ---------------------------------------------------------------- commands (§4)

    /// Writes one command at PROD and advances PROD (consumed synchronously).
    pub fn submit(&self, dw0: u64, dw1: u64) {
        let prod = self.smmu.read32(CMDQ_PROD);
        let idx = u64::from(prod & ((1 << CMDQ_LOG2) - 1));
        self.mem.write_u64(self.cmdq + idx * 16, dw0).unwrap();
        self.mem.write_u64(self.cmdq + idx * 16 + 8, dw1).unwrap();
        let next = (prod + 1) & ((2 << CMDQ_LOG2) - 1);
        self.smmu.write32(CMDQ_PROD, next);
    }

    pub fn sync(&self) {
        self.submit(CMD_SYNC, 0);
        let prod = self.smmu.read32(CMDQ_PROD);
        assert_eq!(
            self.smmu.read32(CMDQ_CONS) & 0xF_FFFF,
            prod,
            "CMD_SYNC completed"
        );
    }

    pub fn cfgi_ste(&self, sid: u32) {
        self.submit(0x03 | u64::from(sid) << 32, 1); // CFGI_STE, Leaf = 1
        self.sync();
    }

    pub fn cfgi_all(&self) {
        self.submit(0x04, 31); // CFGI_STE_RANGE with Range = 31
        self.sync();
    }

    pub fn cfgi_cd(&self, sid: u32, ssid: u32) {
        self.submit(0x05 | u64::from(ssid) << 12 | u64::from(sid) << 32, 1);
        self.sync();
    }

    pub fn tlbi_nh_va(&self, vmid: u16, asid: u16, va: u64) {
        self.submit(
            0x12 | u64::from(vmid) << 32 | u64::from(asid) << 48,
            va & !0xFFF,
        );
        self.sync();
    }

    pub fn tlbi_nh_asid(&self, vmid: u16, asid: u16) {
        self.submit(0x11 | u64::from(vmid) << 32 | u64::from(asid) << 48, 0);
        self.sync();
    }

    pub fn tlbi_s12_vmall(&self, vmid: u16) {
        self.submit(0x28 | u64::from(vmid) << 32, 0);
        self.sync();
    }

    pub fn tlbi_s2_ipa(&self, vmid: u16, ipa: u64) {
        self.submit(0x2A | u64::from(vmid) << 32, ipa & !0xFFF);
        self.sync();
    }

    // ------------------------------------------------------------------ events (§5, §6)

    /// Reads and consumes every pending event record.
    pub fn events(&self) -> Vec<[u64; 4]> {
        let mut out = Vec::new();
        let prod = self.smmu.read32(EVENTQ_PROD);
        let mut cons = self.smmu.read32(EVENTQ_CONS);
        let mask = (2u32 << EVTQ_LOG2) - 1;
        while (prod ^ cons) & mask != 0 {
            let idx = u64::from(cons & ((1 << EVTQ_LOG2) - 1));
            let a = self.evtq + idx * 32;
            out.push(std::array::from_fn(|i| {
                self.mem.read_u64(a + 8 * i as u64).unwrap()
            }));
            cons = (cons & !mask) | ((cons & mask) + 1) & mask;
        }
        self.smmu.write32(EVENTQ_CONS, cons);
        out
    }

    /// The event IDs of the pending events (consumed).
    pub fn event_ids(&self) -> Vec<u64> {
        self.events().iter().map(|e| e[0] & 0xFF).collect()
    }

    // ----------------------------------------------------------- stream table (§2, §3)

    /// A linear stream table of 2^log2 STEs, programmed into STRTAB_BASE(_CFG).
    pub fn linear_strtab(&mut self, log2: u32) -> u64 {
        let size = 64u64 << log2;
        let t = self.alloc(size, size.max(4096));
        self.smmu.write64(STRTAB_BASE, t);
        self.smmu.write32(STRTAB_BASE_CFG, log2); // FMT = 0 (linear)
        self.strtab = t;
        t
    }

    pub fn ste_addr(&self, sid: u32) -> u64 {
        self.strtab + u64::from(sid) * 64
    }

    /// Writes an STE: dwords 1..7 first, dword 0 last (single 64-bit stores).
    pub fn write_ste_at(&self, addr: u64, w: [u64; 8]) {
        for (i, v) in w.iter().enumerate().skip(1) {
            self.mem.write_u64(addr + 8 * i as u64, *v).unwrap();
        }
        self.mem.write_u64(addr, w[0]).unwrap();
    }

    pub fn write_ste(&self, sid: u32, w: [u64; 8]) {
        self.write_ste_at(self.ste_addr(sid), w);
    }

    // --------------------------------------------------------------- page tables

    pub fn page(&self) -> u64 {
        self.alloc(4096, 4096)
    }

    /// Maps the 4 KiB page `va` → `pa` in a 4-level, 4 KiB-granule table rooted at
    /// `root` (48-bit input), allocating intermediate tables. Table descriptors are
    /// `next | 0b11`, page descriptors `pa | attrs | 0b11`.
    pub fn map4k(&self, root: u64, va: u64, pa: u64, attrs: u64) {
        self.map_from(root, 0, va, pa, attrs);
    }

    /// Same, starting at `start_level` (for tables with a smaller input size).
    pub fn map_from(&self, root: u64, start_level: u32, va: u64, pa: u64, attrs: u64) {
        let mut table = root;
        for level in start_level..3 {
            let shift = 12 + 9 * (3 - level);
            let idx = (va >> shift) & 0x1FF;
            let slot = table + idx * 8;
            let d = self.mem.read_u64(slot).unwrap();
            table = if d & 3 == 3 {
                d & 0x0000_FFFF_FFFF_F000
            } else {
                let next = self.page();
                self.mem.write_u64(slot, next | 3).unwrap();
                next
            };
        }
        let idx = (va >> 12) & 0x1FF;
        self.mem
            .write_u64(table + idx * 8, (pa & !0xFFF) | attrs | 3)
            .unwrap();
    }

    /// Like [`map4k`](Self::map4k) for a stage-1 table that lives in IPA space: table
    /// pointers are written as `pa + ipa_off` (the stage-2 tables map IPA
    /// `pa + ipa_off` to `pa`).
    pub fn map4k_ipa(&self, root: u64, va: u64, out: u64, attrs: u64, ipa_off: u64) {
        let mut table = root;
        for level in 0..3 {
            let shift = 12 + 9 * (3 - level);
            let slot = table + ((va >> shift) & 0x1FF) * 8;
            let d = self.mem.read_u64(slot).unwrap();
            table = if d & 3 == 3 {
                (d & 0x0000_FFFF_FFFF_F000) - ipa_off
            } else {
                let next = self.page();
                self.mem.write_u64(slot, (next + ipa_off) | 3).unwrap();
                next
            };
        }
        self.mem
            .write_u64(table + ((va >> 12) & 0x1FF) * 8, (out & !0xFFF) | attrs | 3)
            .unwrap();
    }

    /// The address of the level-3 descriptor of `va` (tables must exist).
    pub fn pte_addr(&self, root: u64, va: u64) -> u64 {
        let mut table = root;
        for level in 0..3 {
            let shift = 12 + 9 * (3 - level);
            let d = self
                .mem
                .read_u64(table + ((va >> shift) & 0x1FF) * 8)
                .unwrap();
            table = d & 0x0000_FFFF_FFFF_F000;
        }
        table + ((va >> 12) & 0x1FF) * 8
    }
}

/// CMD_SYNC with CS = SIG_NONE (§4.2).
pub const CMD_SYNC: u64 = 0x46;

/// §2.1: STE dw0 with V = 1 and Config = bypass (0b100).
pub const STE_BYPASS: [u64; 8] = [1 | 0b100 << 1, 0, 0, 0, 0, 0, 0, 0];
/// §2.1: STE dw0 with V = 1 and Config = abort (0b000).
pub const STE_ABORT: [u64; 8] = [1, 0, 0, 0, 0, 0, 0, 0];

/// §2.1: a stage-1 STE (Config = 0b101) pointing at a single CD (S1CDMax = 0).
pub fn ste_s1(cd: u64) -> [u64; 8] {
    [1 | 0b101 << 1 | cd, 0, 0, 0, 0, 0, 0, 0]
}

/// §2.1: a stage-1 STE with a CD table: S1Fmt[5:4], S1CDMax[63:59], S1DSS dw1[1:0].
pub fn ste_s1_table(ctx: u64, fmt: u64, cdmax: u64, dss: u64) -> [u64; 8] {
    [
        1 | 0b101 << 1 | fmt << 4 | ctx | cdmax << 59,
        dss,
        0,
        0,
        0,
        0,
        0,
        0,
    ]
}

/// §2.1: stage-2 dword 2 for a 4K granule, T0SZ = 16 (48-bit IPA), SL0 = 2 (start at
/// level 0), S2PS = 48 bits, S2AA64 = 1, S2R (dw2[58]) as given.
pub fn s2_dw2(vmid: u16, record: bool) -> u64 {
    u64::from(vmid)
        | 16 << 32 // S2T0SZ
        | 2 << 38 // S2SL0 = 2: level 0 with 4K
        | 1 << 40 | 1 << 42 | 3 << 44 // S2IR0 / S2OR0 WB, S2SH0 inner
        | 0 << 46 // S2TG = 4K
        | 5 << 48 // S2PS = 48 bits
        | 1 << 51 // S2AA64
        | u64::from(record) << 58 // S2R
}

/// §2.1: a stage-2 STE (Config = 0b110) with S2TTB = `ttb` (dw3[55:4]).
pub fn ste_s2(vmid: u16, ttb: u64, record: bool) -> [u64; 8] {
    [1 | 0b110 << 1, 0, s2_dw2(vmid, record), ttb, 0, 0, 0, 0]
}

/// §2.1: a nested STE (Config = 0b111), single CD at IPA `cd_ipa`.
pub fn ste_nested(cd_ipa: u64, vmid: u16, ttb: u64, record: bool) -> [u64; 8] {
    [
        1 | 0b111 << 1 | cd_ipa,
        0,
        s2_dw2(vmid, record),
        ttb,
        0,
        0,
        0,
        0,
    ]
}

/// §2.5: a CD for a 48-bit VA (T0SZ = 16), TG0 = 4K, EPD1 = 1, V = 1, IPS = 48 bits,
/// AA64 = 1, R (record) and A (abort) as given, ASID; TTB0 in dw1[55:4]; MAIR in dw3.
pub fn cd(asid: u16, ttb0: u64, record: bool) -> [u64; 8] {
    let dw0 = 16 // T0SZ
        | 0 << 6 // TG0 = 4K
        | 1 << 8 | 1 << 10 | 3 << 12 // IR0 / OR0 WB, SH0 inner
        | 1 << 30 // EPD1
        | 1 << 31 // V
        | 5 << 32 // IPS = 48 bits
        | 1 << 41 // AA64
        | u64::from(record) << 45 // R
        | 1 << 46 // A
        | u64::from(asid) << 48;
    [dw0, ttb0, 0, 0xFF, 0, 0, 0, 0]
}

pub fn write_words(mem: &PhysMemory, addr: u64, w: &[u64]) {
    for (i, v) in w.iter().enumerate() {
        mem.write_u64(addr + 8 * i as u64, *v).unwrap();
    }
}
