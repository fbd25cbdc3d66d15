//! The commands the driver issues, read from the model's command log
//! (`Smmu::record_commands`), against sequences written from the specs:
//!
//! * kdump.md §7 step 5 (adopt-mode reset, after the command queue is set up in step 4):
//!   `CFGI_ALL`, then `TLBI_NSNH_ALL` (plus `TLBI_EL2_ALL` when the driver uses E2H),
//!   then `CMD_SYNC`; no event or PRI queue in a kdump kernel (§8).
//! * The full reset issues the same invalidation (kdump.md §14 "TLB state": `CFGI_ALL` +
//!   `TLBI_NSNH_ALL` (+ `TLBI_EL2_ALL`) "still run at reset", i.e. as in a normal reset).
//! * kdump.md §12 / smmuv3.md §8.1: the first real attach of a deferred device rewrites
//!   its STE with the entry writer, each step followed by `CFGI_STE` + `CMD_SYNC`; the
//!   number of steps is derived here from the §8.1 used-bits rules, written
//!   independently of smmu-strtab.
//!
//! Opcodes (smmuv3.md §4.1) and register offsets (§1.1) are written down here, not taken
//! from the driver.

mod common;

use std::sync::{Arc, Mutex};

use common::reg::{CMDQ_BASE, CMDQ_CONS, CMDQ_PROD, CR0, IRQ_CTRL};
use common::reg32;
use common::{Core, core, small};
use iommu_core::{DeviceDesc, DeviceId, Iova, PhysAddr, Prot, StreamId};
use smmu_testbed::smmu_model::{CommandLogEntry, ModelConfig, Smmu};
use smmu_testbed::{RegWrite, Testbed};
use smmu_v3_driver::pgtable::Stage;
use smmu_v3_driver::{AdoptSource, AdoptionOutcome, Config};

const RW: Prot = Prot::READ.union(Prot::WRITE);
const IOVA: u64 = 0x1000;
const SID: u32 = 0x10;

// Opcodes, smmuv3.md §4.1.
const CFGI_STE: u8 = 0x03;
const CFGI_STE_RANGE: u8 = 0x04;
const TLBI_EL2_ALL: u8 = 0x20;
const TLBI_NSNH_ALL: u8 = 0x30;
const CMD_SYNC: u8 = 0x46;

// Event and PRI queue registers (BASE, PROD, CONS on page 0 and page 1), smmuv3.md §1.1.
const EVENTQ_QUEUE_REGS: [usize; 5] = [0xa0, 0xa8, 0xac, 0x100a8, 0x100ac];
const PRIQ_QUEUE_REGS: [usize; 5] = [0xc0, 0xc8, 0xcc, 0x100c8, 0x100cc];
// CR0 fields (§1.5).
const SMMUEN: u64 = 1 << 0;
const PRIQEN: u64 = 1 << 1;
const EVENTQEN: u64 = 1 << 2;
const CMDQEN: u64 = 1 << 3;

/// A command as the spec names it: opcode, and for CFGI_STE_RANGE the Range field
/// (dw1[4:0]; 31 = CFGI_ALL).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cmd {
    CfgiAll,
    TlbiEl2All,
    TlbiNsnhAll,
    Sync,
    /// CFGI_STE: StreamID (dw0[63:32]) and Leaf (dw1[0]).
    CfgiSte {
        sid: u32,
        leaf: bool,
    },
    Other(u8),
}

fn cmd(e: &CommandLogEntry) -> Cmd {
    assert_eq!(e.error, None, "the SMMU refused {e:?}");
    let [dw0, dw1] = e.words;
    match e.opcode() {
        CFGI_STE_RANGE if dw1 & 0x1f == 31 => Cmd::CfgiAll,
        TLBI_EL2_ALL => Cmd::TlbiEl2All,
        TLBI_NSNH_ALL => Cmd::TlbiNsnhAll,
        CMD_SYNC => Cmd::Sync,
        CFGI_STE => Cmd::CfgiSte {
            sid: (dw0 >> 32) as u32,
            leaf: dw1 & 1 == 1,
        },
        op => Cmd::Other(op),
    }
}

fn cmds(log: &[CommandLogEntry]) -> Vec<Cmd> {
    log.iter().map(cmd).collect()
}

/// One event of a reset, in order: a register write, or a command the SMMU consumed.
#[derive(Debug, Clone, Copy)]
enum Step {
    Reg(RegWrite),
    Cmd(Cmd),
}

/// Records, in order, every register write of `tb`'s HAL and the commands the model
/// consumed because of it (the model consumes synchronously on the write).
fn record_timeline(tb: &Testbed) -> Arc<Mutex<Vec<Step>>> {
    let timeline = Arc::new(Mutex::new(Vec::new()));
    let smmu: Arc<Smmu> = Arc::clone(&tb.smmu);
    smmu.record_commands(true);
    let t = Arc::clone(&timeline);
    tb.hal.on_register_write(move |w| {
        let mut t = t.lock().unwrap();
        t.push(Step::Reg(w));
        t.extend(smmu.take_commands().iter().map(|e| Step::Cmd(cmd(e))));
    });
    timeline
}

fn commands_of(timeline: &[Step]) -> Vec<Cmd> {
    timeline
        .iter()
        .filter_map(|s| match s {
            Step::Cmd(c) => Some(*c),
            Step::Reg(_) => None,
        })
        .collect()
}

/// The invalidation of a reset: CFGI_ALL first, CMD_SYNC last, the TLB invalidations in
/// between (kdump.md §7 step 5 lists them as "TLBI_EL2_ALL ..., plus TLBI_NSNH_ALL"
/// without an order between the two).
#[track_caller]
fn assert_reset_invalidation(got: &[Cmd], tlbis: &[Cmd]) {
    assert!(got.len() >= 2, "{got:?}");
    assert_eq!(got[0], Cmd::CfgiAll, "{got:?}");
    assert_eq!(got[got.len() - 1], Cmd::Sync, "{got:?}");
    let mut middle = got[1..got.len() - 1].to_vec();
    let mut want = tlbis.to_vec();
    let key = |c: &Cmd| format!("{c:?}");
    middle.sort_by_key(key);
    want.sort_by_key(key);
    assert_eq!(middle, want, "between CFGI_ALL and CMD_SYNC: {got:?}");
}

/// Kernel 1 maps IOVA for the device at SID (stage `stage`) and crashes; returns the
/// buffer.
fn crashed(tb: &Testbed, config: &Config, stage: Stage) -> u64 {
    let mut k1 = core(tb, config);
    k1.driver_mut()
        .set_paging_stage(DeviceId(1), Some(stage))
        .unwrap();
    k1.probe_device(DeviceDesc::new(DeviceId(1), &[StreamId(SID)]))
        .unwrap();
    let buf = tb.alloc_buffer(4096);
    k1.dma_map(DeviceId(1), Iova(IOVA), PhysAddr(buf), 4096, RW)
        .unwrap();
    std::mem::forget(k1);
    buf
}

/// Boots a kdump kernel after kernel 1 crashed and returns the timeline of its probe and
/// reset, and the kernel.
fn kdump_boot(model: ModelConfig, config: &Config) -> (Testbed, Vec<Step>, Core) {
    let tb = Testbed::new(model);
    crashed(&tb, config, Stage::Stage1);
    let kd = tb.reboot(true);
    let timeline = record_timeline(&kd);
    let k2: Core = core(&kd, config);
    assert_eq!(
        k2.driver().adoption(),
        AdoptionOutcome::Adopted {
            source: AdoptSource::Kdump
        }
    );
    let steps = timeline.lock().unwrap().clone();
    (kd, steps, k2)
}

#[test]
fn adopt_mode_reset_issues_cfgi_all_tlbi_nsnh_all_sync_after_the_cmdq_is_set_up() {
    // No IDR0.HYP: there is no EL2 regime, so no TLBI_EL2_ALL.
    let (kd, timeline, _k2) = kdump_boot(ModelConfig::default().hyp(false), &small());
    let got = commands_of(&timeline);
    assert_eq!(got, [Cmd::CfgiAll, Cmd::TlbiNsnhAll, Cmd::Sync]);

    // Step 4 before step 5: CMDQ_BASE, CMDQ_PROD, CMDQ_CONS and CR0 with CMDQEN were
    // written before the first command ran; SMMUEN stayed set in every CR0 write (§7).
    let first_cmd = timeline
        .iter()
        .position(|s| matches!(s, Step::Cmd(_)))
        .unwrap();
    let before: Vec<RegWrite> = timeline[..first_cmd]
        .iter()
        .filter_map(|s| match s {
            Step::Reg(w) => Some(*w),
            Step::Cmd(_) => None,
        })
        .collect();
    for off in [CMDQ_BASE, CMDQ_PROD, CMDQ_CONS] {
        assert!(
            before.iter().any(|w| w.offset == off),
            "{off:#x} not set up"
        );
    }
    assert!(
        before
            .iter()
            .any(|w| w.offset == CR0 && w.value & CMDQEN != 0)
    );
    let writes: Vec<RegWrite> = timeline
        .iter()
        .filter_map(|s| match s {
            Step::Reg(w) => Some(*w),
            Step::Cmd(_) => None,
        })
        .collect();
    for w in writes.iter().filter(|w| w.offset == CR0) {
        assert_eq!(w.value & SMMUEN, SMMUEN, "SMMUEN cleared: {w:?}");
    }

    // §8: no event queue and no PRI queue in a kdump kernel; only GERROR_IRQEN.
    for w in &writes {
        assert!(
            !EVENTQ_QUEUE_REGS.contains(&w.offset) && !PRIQ_QUEUE_REGS.contains(&w.offset),
            "queue register written in kdump: {w:?}"
        );
        if w.offset == CR0 {
            assert_eq!(w.value & (EVENTQEN | PRIQEN), 0, "{w:?}");
        }
    }
    assert_eq!(
        writes.iter().rfind(|w| w.offset == IRQ_CTRL).unwrap().value,
        1
    );
    assert_eq!(
        u64::from(kd.smmu.read32(reg32::CR0ACK)) & (SMMUEN | EVENTQEN | PRIQEN | CMDQEN),
        SMMUEN | CMDQEN
    );
}

#[test]
fn adopt_mode_reset_with_e2h_adds_tlbi_el2_all_before_the_sync() {
    // IDR0.HYP and a driver that uses E2H (kernel 1 did too).
    let mut c = small();
    c.e2h = true;
    let (_kd, timeline, k2) = kdump_boot(ModelConfig::default().hyp(true), &c);
    assert!(k2.driver().options().e2h);
    let got = commands_of(&timeline);
    assert_eq!(got.len(), 4, "{got:?}");
    assert_reset_invalidation(&got, &[Cmd::TlbiEl2All, Cmd::TlbiNsnhAll]);
}

/// kdump.md §7 step 5 asks for `TLBI_EL2_ALL` "when the driver uses E2H". The driver
/// issues it whenever the SMMU has IDR0.HYP (as upstream Linux's reset does): a superset,
/// because adopted STEs of a kernel 1 that ran with E2H carry STRW = EL2 and their EL2
/// TLB entries must go even when the kdump kernel itself does not use E2H.
#[test]
fn adopt_mode_reset_with_hyp_but_without_e2h_also_invalidates_el2() {
    let (_kd, timeline, k2) = kdump_boot(ModelConfig::default().hyp(true), &small());
    assert!(!k2.driver().options().e2h);
    let got = commands_of(&timeline);
    assert_eq!(
        got,
        [Cmd::CfgiAll, Cmd::TlbiEl2All, Cmd::TlbiNsnhAll, Cmd::Sync]
    );
}

#[test]
fn full_reset_issues_the_same_invalidation() {
    // No HYP: CFGI_ALL, TLBI_NSNH_ALL, CMD_SYNC, as in the adopt-mode reset.
    let tb = Testbed::new(ModelConfig::default().hyp(false));
    let timeline = record_timeline(&tb);
    let _k1: Core = core(&tb, &small());
    let steps = timeline.lock().unwrap().clone();
    assert_eq!(
        commands_of(&steps),
        [Cmd::CfgiAll, Cmd::TlbiNsnhAll, Cmd::Sync]
    );
    // Unlike the adopt-mode reset (§7 "normal reset"), it runs with the SMMU disabled
    // and the event queue on: SMMUEN is set only by the last CR0 write, after the sync.
    let last_cmd = steps
        .iter()
        .rposition(|s| matches!(s, Step::Cmd(_)))
        .unwrap();
    let enable = steps
        .iter()
        .position(|s| matches!(s, Step::Reg(w) if w.offset == CR0 && w.value & SMMUEN != 0))
        .unwrap();
    assert!(
        enable > last_cmd,
        "SMMUEN before the invalidation completed"
    );
    assert_eq!(
        u64::from(tb.smmu.read32(reg32::CR0ACK)) & (SMMUEN | EVENTQEN | CMDQEN),
        SMMUEN | EVENTQEN | CMDQEN
    );

    // With HYP and E2H: TLBI_EL2_ALL too.
    let tb = Testbed::new(ModelConfig::default().hyp(true));
    let timeline = record_timeline(&tb);
    let mut c = small();
    c.e2h = true;
    let _k1: Core = core(&tb, &c);
    let steps = timeline.lock().unwrap().clone();
    let got = commands_of(&steps);
    assert_eq!(got.len(), 4, "{got:?}");
    assert_reset_invalidation(&got, &[Cmd::TlbiEl2All, Cmd::TlbiNsnhAll]);
}

// ---- first DMA map of a deferred device ---------------------------------------------

const fn bits(hi: u32, lo: u32) -> u64 {
    (u64::MAX >> (63 - hi)) & !((1u64 << lo) - 1)
}

/// STE used bits, smmuv3.md §8.1 (2025 rules) with the field positions of §2.1.
fn ste_used(e: &[u64; 8]) -> [u64; 8] {
    let mut u = [0u64; 8];
    u[0] = 1; // V
    if e[0] & 1 == 0 {
        return u;
    }
    u[0] |= bits(3, 1); // Config
    let config = (e[0] >> 1) & 7;
    if config & 1 != 0 {
        // S1Fmt[5:4], S1ContextPtr[55:6], S1CDMax[63:59]
        u[0] |= bits(5, 4) | bits(55, 6) | bits(63, 59);
        // S1DSS[1:0], S1CIR[3:2], S1COR[5:4], S1CSH[7:6], MEV[19], S1STALLD[27],
        // EATS[29:28], STRW[31:30]
        u[1] |= bits(7, 0) | 1 << 19 | 1 << 27 | bits(29, 28) | bits(31, 30);
        u[2] |= bits(15, 0); // S2VMID
        if e[1] & 3 == 1 {
            u[1] |= bits(45, 44); // SHCFG when S1DSS = bypass
        }
    }
    if config & 2 != 0 {
        // S2FWB[25], EATS[29:28], SHCFG[45:44], MEV[19]
        u[1] |= 1 << 25 | bits(29, 28) | bits(45, 44) | 1 << 19;
        // S2VMID, VTCR group [50:32], S2AA64[51], S2ENDI[52], S2PTW[54], S2S[57], S2R[58]
        u[2] |= bits(15, 0) | bits(50, 32) | 1 << 51 | 1 << 52 | 1 << 54 | 1 << 57 | 1 << 58;
        u[3] |= bits(55, 4); // S2TTB
    }
    if config == 0b100 {
        u[1] |= bits(45, 44); // SHCFG
    }
    u
}

/// Update-safe bits, smmuv3.md §8.1: MEV always; EATS (full ATS) unless either entry
/// uses S1CHK (EATS = 0b10) or S2S.
fn ste_safe(cur: &[u64; 8], target: &[u64; 8]) -> [u64; 8] {
    let mut s = [0u64; 8];
    s[1] = 1 << 19;
    let s1chk = (cur[1] >> 28) & 3 == 2 || (target[1] >> 28) & 3 == 2;
    let s2s = (cur[2] | target[2]) & 1 << 57 != 0;
    if !s1chk && !s2s {
        s[1] |= bits(29, 28);
    }
    s
}

/// The number of syncs smmuv3.md §8.1 "Writing an entry" takes from `cur` to `target`
/// (each step syncs only if it changed something).
fn expected_syncs(cur: &[u64; 8], target: &[u64; 8]) -> usize {
    let (cu, tu, safe) = (ste_used(cur), ste_used(target), ste_safe(cur, target));
    let mut mixed = [0u64; 8];
    let mut critical = Vec::new();
    for i in 0..8 {
        let held = cu[i] & !(safe[i] & cu[i] & tu[i]);
        mixed[i] = (cur[i] & held) | (target[i] & !held);
        if mixed[i] & tu[i] != target[i] {
            critical.push(i);
        }
    }
    let mut mem = *cur;
    let mut syncs = 0;
    let mut step = |mem: &mut [u64; 8], words: &[usize], from: &[u64; 8]| {
        let changed = words.iter().any(|&i| mem[i] != from[i]);
        for &i in words {
            mem[i] = from[i];
        }
        syncs += usize::from(changed);
    };
    let all: Vec<usize> = (0..8).collect();
    match critical.as_slice() {
        [] => step(&mut mem, &all, target),
        &[c] => {
            let others: Vec<usize> = (0..8).filter(|&i| i != c).collect();
            step(&mut mem, &others, &mixed);
            step(&mut mem, &[c], target);
            step(&mut mem, &all, target);
        }
        _ => {
            let mut invalid = mem;
            invalid[0] = 0;
            step(&mut mem, &[0], &invalid);
            step(&mut mem, &[1, 2, 3, 4, 5, 6, 7], target);
            step(&mut mem, &[0], target);
        }
    }
    assert_eq!(mem, *target);
    syncs
}

/// The STE of `sid` as the SMMU finds it: STRTAB_BASE / _CFG (§1.6), L1 descriptor L2Ptr
/// [55:6] (§2.4), 64-byte STEs.
fn ste_in_memory(tb: &Testbed, sid: u32) -> [u64; 8] {
    let addr = |v: u64| v & bits(55, 6);
    let base = addr(tb.smmu.read64(reg32::STRTAB_BASE));
    let cfg = tb.smmu.read32(reg32::STRTAB_BASE_CFG);
    let ste = if (cfg >> 16) & 3 == 1 {
        let split = (cfg >> 6) & 0x1f;
        let l1 = tb.mem.read_u64(base + 8 * u64::from(sid >> split)).unwrap();
        addr(l1) + 64 * u64::from(sid & ((1 << split) - 1))
    } else {
        base + 64 * u64::from(sid)
    };
    std::array::from_fn(|i| tb.mem.read_u64(ste + 8 * i as u64).unwrap())
}

/// Kernel 1 (stage `old`) crashes; the kdump kernel defers the device, then its first DMA
/// map attaches it for real with a stage-`new` default domain. Returns the STE before and
/// after, and the commands of that first map.
fn first_map(old: Stage, new: Stage) -> ([u64; 8], [u64; 8], Vec<Cmd>) {
    let tb = Testbed::new(ModelConfig::default());
    crashed(&tb, &small(), old);
    let kd = tb.reboot(true);
    let mut k2: Core = core(&kd, &small());
    k2.driver_mut()
        .set_paging_stage(DeviceId(1), Some(new))
        .unwrap();
    k2.probe_device(DeviceDesc::new(DeviceId(1), &[StreamId(SID)]))
        .unwrap();
    assert!(k2.is_attach_deferred(DeviceId(1)).unwrap());
    let before = ste_in_memory(&kd, SID);
    kd.smmu.record_commands(true);
    let buf = kd.alloc_buffer(4096);
    k2.dma_map(DeviceId(1), Iova(IOVA), PhysAddr(buf), 4096, RW)
        .unwrap();
    let log = kd.smmu.take_commands();
    assert!(!k2.is_attach_deferred(DeviceId(1)).unwrap());
    (before, ste_in_memory(&kd, SID), cmds(&log))
}

/// Every CFGI_STE of `sid` is immediately followed by a CMD_SYNC; returns how many.
#[track_caller]
fn ste_syncs(log: &[Cmd], sid: u32) -> usize {
    let mut n = 0;
    for (i, c) in log.iter().enumerate() {
        if let Cmd::CfgiSte { sid: s, .. } = *c {
            assert_eq!(s, sid, "{log:?}");
            assert_eq!(
                log.get(i + 1),
                Some(&Cmd::Sync),
                "CFGI_STE not synced: {log:?}"
            );
            n += 1;
        }
    }
    n
}

#[test]
fn first_dma_map_rewrites_the_adopted_ste_with_cfgi_ste_and_sync_per_step() {
    for (old, new) in [
        (Stage::Stage1, Stage::Stage1),
        (Stage::Stage2, Stage::Stage2),
        (Stage::Stage2, Stage::Stage1),
        (Stage::Stage1, Stage::Stage2),
    ] {
        let (before, after, log) = first_map(old, new);
        let what = format!("{old:?} → {new:?}: {before:x?} → {after:x?}\n{log:?}");
        // The STE was rewritten in place (kdump.md §12) with the new configuration:
        // Config = S1_TRANS (0b101) or S2_TRANS (0b110), V = 1.
        let config = match new {
            Stage::Stage1 => 0b101,
            Stage::Stage2 => 0b110,
        };
        assert_eq!(after[0] & 0xf, config << 1 | 1, "{what}");
        assert_ne!(before, after, "{what}");
        let want = expected_syncs(&before, &after);
        assert!(want >= 1, "{what}");
        assert_eq!(ste_syncs(&log, SID), want, "{what}");
        // A step of the STE update is announced with Leaf = 1 (the STE only).
        assert!(
            log.iter()
                .all(|c| !matches!(c, Cmd::CfgiSte { leaf: false, .. })),
            "{what}"
        );
    }
}

#[test]
fn hand_derived_step_counts_of_two_handovers() {
    // S1 → S1: both STEs use the same fields with the same values except S1ContextPtr
    // (dw0[55:6], the new CD table): one critical word, a hitless update (smmuv3.md
    // §8.1) whose first and last steps change nothing, so one sync.
    let (before, after, log) = first_map(Stage::Stage1, Stage::Stage1);
    assert_eq!(before[1..], after[1..], "only dw0 differs");
    assert_ne!(before[0] & bits(55, 6), after[0] & bits(55, 6));
    assert_eq!(before[0] & !bits(55, 6), after[0] & !bits(55, 6));
    assert_eq!(ste_syncs(&log, SID), 1, "{log:?}");

    // S2 (Config 0b110, S2VMID ≠ 0) → S1 (Config 0b101, S2VMID = 0): dw0 (Config) and
    // dw2 (S2VMID, used by both) are both critical, so the update goes through V = 0 in
    // three steps: word 0 cleared, words 1..7, word 0.
    let (before, after, log) = first_map(Stage::Stage2, Stage::Stage1);
    assert_ne!(before[2] & 0xffff, 0, "kernel 1's VMID");
    assert_eq!(after[2] & 0xffff, 0, "the new stage-1 STE has S2VMID 0");
    assert_eq!(ste_syncs(&log, SID), 3, "{log:?}");
}
