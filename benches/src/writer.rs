//! `entry_writer` fixture: STE installs through [`SteSlot::write`] with a no-op sync hook,
//! against a baseline that stores the 8 target words (atomic `Release` stores, the
//! ordering the writer uses) into the same slot.
//!
//! Every install must start from the source entry, so installs run over a batch of
//! [`SLOTS`] distinct slots of one linear table: the batch is reset to the source with
//! raw stores *outside* the timed section, then the timed section installs the target in
//! each slot of the batch once (see the bench's `iter_custom`). Subject and baseline use
//! the same slots, the same reset and the same batching.

use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, Ordering};

use smmu_regs::StreamId;
use smmu_strtab::{
    FormatPolicy, SteSlot, StreamTable, StreamTableCaps, TablePolicy, WriteReport, WriteStep,
};

use crate::hostmem::HostMem;

/// Slots per batch (a linear table of 2^10 STEs, 64 KiB).
pub const SLOTS: usize = 1024;

// ---- STE building blocks, written from spec §2.1 (as the smmu-strtab scenario tests) ----
const V: u64 = 1;
const CFG_ABORT: u64 = 0;
const CFG_BYPASS: u64 = 4 << 1;
const CFG_S1: u64 = 5 << 1;
const CFG_S2: u64 = 6 << 1;
/// S1ContextPtr (dw0[55:6]) of a CD table.
const CDTAB: u64 = 0x0001_2345_6000;
/// S1CDMax = 8 (dw0[63:59]), S1Fmt = linear.
const S1CDMAX: u64 = 8 << 59;
/// dw1: S1DSS = SSID0 [1:0], S1CIR = S1COR = WB-RA, S1CSH = ISH, S1STALLD [27].
const S1_DW1: u64 = 2 | (1 << 2) | (1 << 4) | (3 << 6) | (1 << 27);
/// dw1: EATS = full ATS [29:28]; SHCFG = incoming [45:44].
const EATS_TRANS: u64 = 1 << 28;
const SHCFG_INCOMING: u64 = 1 << 44;
/// dw2: S2T0SZ=25, S2SL0=1, S2IR0=S2OR0=WB, S2SH0=ISH, S2TG=4K, S2PS=48 bits, S2AA64,
/// S2PTW, S2R.
const S2_DW2: u64 = (25 << 32)
    | (1 << 38)
    | (1 << 40)
    | (1 << 42)
    | (3 << 44)
    | (5 << 48)
    | (1 << 51)
    | (1 << 54)
    | (1 << 58);
/// dw3: S2TTB [55:4].
const S2TTB: u64 = 0x0002_0000_1000;

/// V = 1, Config = abort.
pub const ABORT: [u64; 8] = [V | CFG_ABORT, 0, 0, 0, 0, 0, 0, 0];
/// V = 1, Config = bypass, SHCFG = incoming.
pub const BYPASS: [u64; 8] = [V | CFG_BYPASS, SHCFG_INCOMING, 0, 0, 0, 0, 0, 0];
/// Stage 1 through a linear CD table of 256 CDs, S1DSS = SSID0, full ATS.
pub const CDTABLE: [u64; 8] = [
    V | CFG_S1 | CDTAB | S1CDMAX,
    S1_DW1 | EATS_TRANS,
    0,
    0,
    0,
    0,
    0,
    0,
];
/// Stage 2 only, VMID 0, full ATS.
pub const S2: [u64; 8] = [
    V | CFG_S2,
    SHCFG_INCOMING | EATS_TRANS,
    S2_DW2,
    S2TTB,
    0,
    0,
    0,
    0,
];

/// One measured transition.
#[derive(Debug, Clone, Copy)]
pub struct Transition {
    /// Bench id.
    pub name: &'static str,
    /// The entry every install starts from.
    pub source: [u64; 8],
    /// The entry installed.
    pub target: [u64; 8],
    /// Syncs the §8.1 algorithm needs (the Linux kunit count, cross-checked by
    /// [`WriterFixture::check`]).
    pub expected_syncs: u32,
}

/// The three transitions of the bench (spec §8.2 names in the comments).
pub const TRANSITIONS: [Transition; 3] = [
    // write_ste_test_abort_to_s2
    Transition {
        name: "abort_to_s2",
        source: ABORT,
        target: S2,
        expected_syncs: 2,
    },
    // write_ste_test_s1_to_s2
    Transition {
        name: "s1cdtable_to_s2",
        source: CDTABLE,
        target: S2,
        expected_syncs: 3,
    },
    // write_ste_test_bypass_to_cdtable
    Transition {
        name: "bypass_to_cdtable",
        source: BYPASS,
        target: CDTABLE,
        expected_syncs: 3,
    },
];

/// The no-op sync hook of the bench.
fn no_op(_: WriteStep) -> Result<(), Infallible> {
    Ok(())
}

/// A linear table of [`SLOTS`] STEs and the CPU pointer of each.
pub struct WriterFixture<'m> {
    table: StreamTable<&'m HostMem>,
    ptrs: Box<[*const AtomicU64]>,
}

impl std::fmt::Debug for WriterFixture<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WriterFixture")
            .field("table", &self.table)
            .finish_non_exhaustive()
    }
}

impl<'m> WriterFixture<'m> {
    /// Builds the table in `mem` (at least 1 MiB).
    ///
    /// # Panics
    ///
    /// If the table cannot be built.
    #[must_use]
    pub fn new(mem: &'m HostMem) -> Self {
        let caps = StreamTableCaps {
            sid_bits: SLOTS.trailing_zeros() as u8,
            two_level: false,
            attr_types_ovr: true,
        };
        let policy = TablePolicy {
            format: FormatPolicy::Linear,
            ..TablePolicy::default()
        };
        let table = StreamTable::new(mem, caps, &policy).expect("table");
        let ptrs = (0..SLOTS as u32)
            .map(|sid| {
                let pa = table.ste(StreamId(sid)).expect("slot").pa().0;
                mem.host_ptr(pa, 64).expect("arena").as_ptr().cast_const()
            })
            .collect();
        Self { table, ptrs }
    }

    /// The slots, created once outside any timed section.
    #[must_use]
    pub fn slots(&self) -> Vec<SteSlot<'_, &'m HostMem>> {
        (0..SLOTS as u32)
            .map(|sid| self.table.ste(StreamId(sid)).expect("slot"))
            .collect()
    }

    /// Stores `words` into the first `n` slots with `Release` atomic stores: the reset of
    /// a batch (untimed) and the baseline install (timed).
    #[inline(never)]
    pub fn raw_store(&self, n: usize, words: &[u64; 8]) {
        for &ste in self.ptrs.iter().take(n) {
            for (i, &w) in words.iter().enumerate() {
                // SAFETY: `ste` is the CPU address of a 64-byte STE of the table this
                // fixture owns (computed in `new` from the slot's PA), `i < 8`, aligned;
                // table words are only accessed atomically.
                unsafe { &*ste.add(i) }.store(w, Ordering::Release);
            }
        }
    }

    /// Subject: installs `target` into the first `n` slots through the entry writer with
    /// the no-op hook; returns the total number of syncs.
    #[inline(never)]
    pub fn install(slots: &[SteSlot<'_, &'m HostMem>], n: usize, target: &[u64; 8]) -> u32 {
        let mut syncs = 0;
        let mut hook = no_op;
        for slot in slots.iter().take(n) {
            if let Ok(r) = slot.write(target, &mut hook) {
                syncs += r.syncs;
            }
        }
        syncs
    }

    /// Checks, for `t`, that one install from the source yields the target with the
    /// expected sync count, that the raw baseline yields the same memory, and that a
    /// whole batch through [`install`](Self::install) does the expected work. Returns the
    /// report of one install.
    ///
    /// # Panics
    ///
    /// On any mismatch.
    #[must_use]
    pub fn check(&self, t: &Transition) -> WriteReport {
        let slots = self.slots();
        self.raw_store(SLOTS, &t.source);
        let report = slots[0].write(&t.target, &mut no_op).expect("write");
        assert_eq!(slots[0].read().expect("read"), t.target, "{}", t.name);
        assert_eq!(report.syncs, t.expected_syncs, "{}: syncs", t.name);
        assert_eq!(
            slots[1].read().expect("read"),
            t.source,
            "{}: other slots untouched",
            t.name
        );
        self.raw_store(SLOTS, &t.source);
        let total = Self::install(&slots, SLOTS, &t.target);
        assert_eq!(total, t.expected_syncs * SLOTS as u32, "{}: batch", t.name);
        assert!(slots.iter().all(|s| s.read().expect("read") == t.target));
        self.raw_store(SLOTS, &t.source);
        self.raw_store(SLOTS, &t.target);
        assert!(slots.iter().all(|s| s.read().expect("read") == t.target));
        report
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_transition_installs_the_target_with_the_expected_syncs() {
        let mem = HostMem::new(1 << 20);
        let fx = WriterFixture::new(&mem);
        for t in &TRANSITIONS {
            let r = fx.check(t);
            assert!(!r.breaking, "{}: hitless", t.name);
        }
    }
}
