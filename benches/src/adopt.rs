//! `adopt` fixture: a 2-level stream table with 2^17 L1 descriptors (LOG2SIZE 25,
//! SPLIT 8), as a previous kernel would leave it, adopted through
//! [`StreamTable::adopt`]; baseline: a linear read of the same 1 MiB (sum of 2^17
//! `Acquire` 64-bit loads, the access the crate must use for table words).
//!
//! Every descriptor is valid: Span 9 and a distinct, 16 KiB aligned L2 pointer outside
//! the arena (adoption validates descriptors but maps no L2 table, so the L2 tables need
//! not exist).

use std::sync::atomic::{AtomicU64, Ordering};

use smmu_strtab::{AdoptError, AdoptPolicy, Split, StreamTable, StreamTableCaps};

use crate::hostmem::HostMem;

/// L1 descriptors (Linux's cap).
pub const NUM_L1: usize = 1 << 17;
/// Bytes of the L1 table.
pub const L1_BYTES: usize = NUM_L1 * 8;
/// StreamID bits: 17 L1 bits + SPLIT 8.
const LOG2SIZE: u8 = 25;
/// Where the (nonexistent) L2 tables would live.
const L2_BASE: u64 = 0x80_0000_0000;

/// L1 descriptor `i` (spec §2.4): L2Ptr = `L2_BASE + i * 16 KiB`, Span 9.
const fn l1_desc(i: usize) -> u64 {
    (L2_BASE + (i as u64) * 16384) | 9
}

/// The live L1 table and what adoption needs to find it.
pub struct AdoptFixture<'m> {
    mem: &'m HostMem,
    l1_pa: u64,
    l1: *const AtomicU64,
    caps: StreamTableCaps,
    policy: AdoptPolicy,
}

impl std::fmt::Debug for AdoptFixture<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdoptFixture")
            .field("l1_pa", &format_args!("{:#x}", self.l1_pa))
            .finish_non_exhaustive()
    }
}

impl<'m> AdoptFixture<'m> {
    /// Writes the L1 table into memory reserved in `mem` (which needs at least 1 MiB for
    /// it plus the slot-record directory of each live adopted table).
    ///
    /// # Panics
    ///
    /// If the memory cannot be reserved or a check fails.
    #[must_use]
    pub fn new(mem: &'m HostMem) -> Self {
        let l1_pa = mem.reserve(L1_BYTES, L1_BYTES).expect("L1 memory");
        for i in 0..NUM_L1 {
            assert!(mem.write_u64(l1_pa + 8 * i as u64, l1_desc(i)));
        }
        let l1 = mem
            .host_ptr(l1_pa, L1_BYTES)
            .expect("arena")
            .as_ptr()
            .cast_const();
        let fx = Self {
            mem,
            l1_pa,
            l1,
            caps: StreamTableCaps {
                sid_bits: LOG2SIZE,
                two_level: true,
                attr_types_ovr: true,
            },
            policy: AdoptPolicy::default(),
        };
        fx.check();
        fx
    }

    /// STRTAB_BASE (§1.6): ADDR with RA = 0.
    fn strtab_base(&self) -> u64 {
        self.l1_pa
    }

    /// STRTAB_BASE_CFG: FMT = 2-level, SPLIT 8, LOG2SIZE 25.
    fn strtab_base_cfg() -> u32 {
        (1 << 16) | ((Split::S8 as u32) << 6) | u32::from(LOG2SIZE)
    }

    /// Subject: adopts the table (validates all 2^17 descriptors, allocates the 4 KiB
    /// slot-record directory; record chunks come lazily with the L2 tables).
    ///
    /// # Errors
    ///
    /// The adoption error (never, for this table: see [`check`](Self::check)).
    #[inline(never)]
    pub fn adopt(&self) -> Result<StreamTable<&'m HostMem>, AdoptError> {
        StreamTable::adopt(
            self.mem,
            self.caps,
            self.strtab_base(),
            Self::strtab_base_cfg(),
            &self.policy,
        )
    }

    /// Baseline: the wrapping sum of the 2^17 descriptors, read linearly.
    #[inline(never)]
    #[must_use]
    pub fn read_all(&self) -> u64 {
        let mut sum = 0u64;
        for i in 0..NUM_L1 {
            // SAFETY: `l1` is the CPU pointer of the reserved 1 MiB L1 table (checked by
            // `host_ptr` for `L1_BYTES`), `i < NUM_L1`, aligned, accessed atomically.
            sum = sum.wrapping_add(unsafe { &*self.l1.add(i) }.load(Ordering::Acquire));
        }
        sum
    }

    /// Checks that adoption succeeds with the expected geometry, that it really reads
    /// every descriptor (a bad Span in the *last* one is reported), and that the
    /// baseline reads the values written.
    ///
    /// # Panics
    ///
    /// On any mismatch.
    pub fn check(&self) {
        let table = self.adopt().expect("adopts");
        assert!(table.is_adopted());
        assert_eq!(table.geometry().num_l1(), NUM_L1);
        assert_eq!(table.base_pa().0, self.l1_pa);
        drop(table);
        let last = self.l1_pa + 8 * (NUM_L1 as u64 - 1);
        assert!(self.mem.write_u64(last, l1_desc(NUM_L1 - 1) - 9 + 10));
        assert_eq!(
            self.adopt().err(),
            Some(AdoptError::L1SpanInvalid {
                index: NUM_L1 as u32 - 1,
                span: 10
            })
        );
        assert!(self.mem.write_u64(last, l1_desc(NUM_L1 - 1)));
        let expected = (0..NUM_L1).fold(0u64, |s, i| s.wrapping_add(l1_desc(i)));
        assert_eq!(self.read_all(), expected);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adoption_reads_every_descriptor_and_the_baseline_matches() {
        let mem = HostMem::new(8 << 20);
        let _ = AdoptFixture::new(&mem);
    }
}
