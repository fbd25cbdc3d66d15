//! `strtab_lookup` fixture: StreamID → STE lookup through [`StreamTable::ste`] plus a read
//! of the STE, against a raw-pointer baseline doing the same index arithmetic and the same
//! 8 atomic loads on the same table memory.
//!
//! Work per StreamID, identical in subject and baseline: find the STE, load its 8 words
//! with `Acquire` 64-bit atomic loads (what [`SteSlot::read`](smmu_strtab::SteSlot::read)
//! does), and add `dw0 ^ dw2` to a checksum (dw2 holds a per-SID VMID, so the checksum
//! proves both read the same entries).
//!
//! * Subject: `table.ste(sid)` (range check, 2-level: slot record of the L1 index, span
//!   check; builds an `SteSlot`) then `slot.read()` (bounds-checked loads).
//! * Baseline, linear: `base + sid * 64`. 2-level: `l2ptrs[sid >> 8] + (sid & 0xff) * 64`,
//!   with `l2ptrs` a plain array of the L2 tables' CPU pointers (Linux's
//!   `cfg->l2.l2ptrs[]`), no checks.

use std::sync::atomic::{AtomicU64, Ordering};

use smmu_regs::StreamId;
use smmu_strtab::{FormatPolicy, StreamTable, StreamTableCaps, TablePolicy, WriteStep};

use crate::hostmem::HostMem;
use crate::{Pattern, random_sids, sequential_sids};

/// StreamID bits of the lookup tables (both formats cover the same 2^16 StreamIDs).
pub const SID_BITS: u8 = 16;
/// StreamIDs looked up per iteration.
pub const SIDS_PER_ITER: usize = 4096;
/// SPLIT of the 2-level table (Linux's).
const SPLIT: u32 = 8;

/// Which table format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// One array of 2^16 STEs (4 MiB).
    Linear,
    /// 256 L1 descriptors, SPLIT 8, 16 KiB L2 tables for every StreamID used.
    TwoLevel,
}

/// A stage-2 STE (spec §2.1) with `VMID = vmid`, so every STE differs.
fn s2_ste(vmid: u16) -> [u64; 8] {
    const V: u64 = 1;
    const CFG_S2: u64 = 6 << 1;
    const SHCFG_INCOMING: u64 = 1 << 44;
    // S2T0SZ=25, S2SL0=1, S2IR0=S2OR0=WB, S2SH0=ISH, S2TG=4K, S2PS=48 bits, S2AA64, S2R.
    const DW2: u64 =
        (25 << 32) | (1 << 38) | (1 << 40) | (1 << 42) | (3 << 44) | (5 << 48) | (1 << 51);
    const S2R: u64 = 1 << 58;
    const S2TTB: u64 = 0x0002_0000_1000;
    [
        V | CFG_S2,
        SHCFG_INCOMING,
        u64::from(vmid) | DW2 | S2R,
        S2TTB,
        0,
        0,
        0,
        0,
    ]
}

/// How the baseline finds an STE.
enum Raw {
    Linear { base: *const AtomicU64 },
    TwoLevel { l2ptrs: Box<[*const AtomicU64]> },
}

/// A populated table, the SID arrays, and the raw view of the same memory.
pub struct LookupFixture<'m> {
    table: StreamTable<&'m HostMem>,
    raw: Raw,
    sequential: Box<[u32]>,
    random: Box<[u32]>,
}

impl std::fmt::Debug for LookupFixture<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LookupFixture")
            .field("table", &self.table)
            .finish_non_exhaustive()
    }
}

impl<'m> LookupFixture<'m> {
    /// Builds the table in `mem` (at least 16 MiB), writes a distinct stage-2 STE for every
    /// StreamID of both SID arrays, and records the raw pointers for the baseline.
    ///
    /// # Panics
    ///
    /// If the table cannot be built (a bench setup error).
    #[must_use]
    pub fn new(mem: &'m HostMem, layout: Layout) -> Self {
        let caps = StreamTableCaps {
            sid_bits: SID_BITS,
            two_level: true,
            attr_types_ovr: true,
        };
        let policy = TablePolicy {
            format: match layout {
                Layout::Linear => FormatPolicy::Linear,
                Layout::TwoLevel => FormatPolicy::TwoLevel,
            },
            ..TablePolicy::default()
        };
        let mut table = StreamTable::new(mem, caps, &policy).expect("table");
        let sequential = sequential_sids(SIDS_PER_ITER);
        let random = random_sids(SIDS_PER_ITER, u32::from(SID_BITS), 0x5eed_0001);
        let mut hook = |_: WriteStep| Ok::<(), ()>(());
        for &sid in sequential.iter().chain(random.iter()) {
            table.ensure_sid(StreamId(sid)).expect("ensure_sid");
            let slot = table.ste(StreamId(sid)).expect("slot");
            slot.write(&s2_ste(sid as u16), &mut hook).expect("write");
        }
        let ptr_of = |pa: u64| {
            mem.host_ptr(pa, 64)
                .expect("table memory is arena memory")
                .as_ptr()
                .cast_const()
        };
        let raw = match layout {
            Layout::Linear => Raw::Linear {
                base: ptr_of(table.base_pa().0),
            },
            Layout::TwoLevel => {
                let num_l1 = table.geometry().num_l1();
                let l2ptrs = (0..num_l1)
                    .map(|l1| {
                        let first = StreamId((l1 as u32) << SPLIT);
                        table
                            .ste(first)
                            .map_or(std::ptr::null(), |slot| ptr_of(slot.pa().0))
                    })
                    .collect();
                Raw::TwoLevel { l2ptrs }
            }
        };
        let fixture = Self {
            table,
            raw,
            sequential,
            random,
        };
        fixture.check();
        fixture
    }

    fn sids(&self, pattern: Pattern) -> &[u32] {
        match pattern {
            Pattern::Sequential => &self.sequential,
            Pattern::Random => &self.random,
        }
    }

    /// Subject: `ste(sid)` + `read()` for every StreamID of `pattern`; the checksum.
    #[inline(never)]
    #[must_use]
    pub fn subject(&self, pattern: Pattern) -> u64 {
        let mut acc = 0u64;
        for &sid in self.sids(pattern) {
            if let Ok(slot) = self.table.ste(StreamId(sid))
                && let Ok(w) = slot.read()
            {
                acc = acc.wrapping_add(w[0] ^ w[2]);
            }
        }
        acc
    }

    /// Baseline: raw index arithmetic + 8 `Acquire` loads per StreamID; the checksum.
    #[inline(never)]
    #[must_use]
    pub fn baseline(&self, pattern: Pattern) -> u64 {
        let mut acc = 0u64;
        for &sid in self.sids(pattern) {
            let ste = self.raw_ste(sid);
            let mut w = [0u64; 8];
            for (i, word) in w.iter_mut().enumerate() {
                // SAFETY: `ste` points at the 64-byte STE of `sid` inside a live table
                // region (see `raw_ste`), so word `i < 8` is in bounds, 8-byte aligned
                // and only ever accessed atomically.
                *word = unsafe { &*ste.add(i) }.load(Ordering::Acquire);
            }
            acc = acc.wrapping_add(w[0] ^ w[2]);
        }
        acc
    }

    /// The STE pointer of `sid`, one of this fixture's StreamIDs (populated in `new`).
    #[inline(always)]
    fn raw_ste(&self, sid: u32) -> *const AtomicU64 {
        let sid = sid as usize;
        match &self.raw {
            // SAFETY: `sid < 2^16` (every SID array is generated below 2^SID_BITS) and
            // the linear table holds 2^16 STEs of 8 words, so the offset is in bounds.
            Raw::Linear { base } => unsafe { base.add(sid * 8) },
            Raw::TwoLevel { l2ptrs } => {
                // SAFETY: `sid >> 8 < 256 = l2ptrs.len()` for `sid < 2^16`, and every
                // StreamID of the fixture had its L2 table populated in `new`, so the
                // pointer is that L2 table (256 STEs) and `sid & 0xff` is in bounds.
                unsafe {
                    let l2 = *l2ptrs.get_unchecked(sid >> SPLIT);
                    l2.add((sid & 0xff) * 8)
                }
            }
        }
    }

    /// Checks that subject and baseline find the same STE (same address and same 8
    /// words) for every StreamID, and that the checksums agree and are not trivial.
    ///
    /// # Panics
    ///
    /// On any mismatch: the bench would otherwise measure something else.
    pub fn check(&self) {
        for pattern in [Pattern::Sequential, Pattern::Random] {
            for &sid in self.sids(pattern) {
                let slot = self
                    .table
                    .ste(StreamId(sid))
                    .expect("subject finds the STE");
                let raw = self.raw_ste(sid);
                let pa_ptr = self
                    .table
                    .memory()
                    .host_ptr(slot.pa().0, 64)
                    .expect("arena")
                    .as_ptr()
                    .cast_const();
                assert_eq!(pa_ptr, raw, "sid {sid:#x}: same STE address");
                let words = slot.read().expect("read");
                assert_eq!(words, s2_ste(sid as u16), "sid {sid:#x}: STE content");
            }
            let s = self.subject(pattern);
            assert_eq!(s, self.baseline(pattern), "{pattern:?}: checksums");
            assert_ne!(s, 0, "{pattern:?}: non-trivial checksum");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subject_and_baseline_read_the_same_entries() {
        let mem = HostMem::new(16 << 20);
        for layout in [Layout::Linear, Layout::TwoLevel] {
            // `new` runs `check`.
            let _ = LookupFixture::new(&mem, layout);
        }
    }
}
