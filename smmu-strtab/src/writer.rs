//! The entry writer: rewrites a live STE or CD word by word so that the SMMU, reading the
//! entry at any moment, sees either the old or the new configuration (spec smmuv3.md
//! §8.1), calling a sync hook after each step (design.md §3.3). The algorithm is
//! documented on [`EntrySlot::write`].

use core::marker::PhantomData;

use smmu_regs::PhysAddr;

use crate::access;
use crate::error::{AccessError, WriteError};
use crate::memory::{Coherency, DmaRegion, TableMemory};
use crate::used;

mod sealed {
    pub trait Sealed {}
}

/// The kind of a 64-byte entry: selects its used-bit and update-safe rules.
/// Implemented by [`Ste`] and [`Cd`] only.
pub trait EntryKind: sealed::Sealed {
    /// Used bits of an entry of this kind.
    fn used(entry: &[u64; 8]) -> [u64; 8];
    /// Update-safe bits of a transition from `cur` to `target`.
    fn update_safe(cur: &[u64; 8], target: &[u64; 8]) -> [u64; 8];
}

/// Marker for stream table entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ste {}
/// Marker for context descriptors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cd {}

impl sealed::Sealed for Ste {}
impl sealed::Sealed for Cd {}

impl EntryKind for Ste {
    fn used(entry: &[u64; 8]) -> [u64; 8] {
        used::ste_used(entry)
    }
    fn update_safe(cur: &[u64; 8], target: &[u64; 8]) -> [u64; 8] {
        used::ste_update_safe(cur, target)
    }
}

impl EntryKind for Cd {
    fn used(entry: &[u64; 8]) -> [u64; 8] {
        used::cd_used(entry)
    }
    fn update_safe(cur: &[u64; 8], target: &[u64; 8]) -> [u64; 8] {
        used::cd_update_safe(cur, target)
    }
}

/// Which step of an update the writer has just made visible when it calls the hook.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum WriteStep {
    /// No critical word: the whole target was written.
    Direct,
    /// Hitless update, step 1: bits the current entry does not use.
    UnusedBits,
    /// Hitless update, step 2: the single critical word.
    Critical {
        /// The word index.
        word: u8,
    },
    /// Hitless update, step 3: the whole target (clears bits no longer used).
    Finish,
    /// Breaking update, step 1: word 0 cleared (V = 0).
    Invalidate,
    /// Breaking update, step 2: words 1..8 of the target.
    Body,
    /// Breaking update, step 3: word 0 of the target.
    Validate,
}

/// The completion hook: called after each step of an update. The driver's hook issues
/// `CFGI_STE`/`CFGI_CD` and `CMD_SYNC` (after the barrier that makes the stores visible to
/// the SMMU); tests record the entry. Closures `FnMut(WriteStep) -> Result<(), E>`
/// implement it.
pub trait SyncHook {
    /// The hook's error, propagated as [`WriteError::Sync`].
    type Error;
    /// Makes the step visible to the SMMU and invalidates its cached copy of the entry.
    ///
    /// # Errors
    ///
    /// Any error aborts the update (the entry is left in the state of the last completed
    /// step, which is never a mixed entry).
    fn sync(&mut self, step: WriteStep) -> Result<(), Self::Error>;
}

impl<E, F: FnMut(WriteStep) -> Result<(), E>> SyncHook for F {
    type Error = E;
    fn sync(&mut self, step: WriteStep) -> Result<(), E> {
        self(step)
    }
}

/// What an update did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct WriteReport {
    /// Number of times the sync hook ran.
    pub syncs: u32,
    /// Bit *i* set: word *i* was critical.
    pub critical: u8,
    /// The update went through an invalid entry (two or more critical words).
    pub breaking: bool,
}

/// The critical words of a transition and the `unused_update` value (see the module
/// docs); `target_used` is `K::used(target)`, computed once by the caller.
#[inline]
fn qword_diff<K: EntryKind>(
    cur: &[u64; 8],
    target: &[u64; 8],
    target_used: &[u64; 8],
) -> (u8, [u64; 8]) {
    let cur_used = K::used(cur);
    let safe = K::update_safe(cur, target);
    let mut critical = 0u8;
    let mut unused_update = [0u64; 8];
    for i in 0..8 {
        let (c, t, cu, tu, s) = (cur[i], target[i], cur_used[i], target_used[i], safe[i]);
        // A safe bit only counts when both entries use it.
        let held = cu & !(s & cu & tu);
        let mixed = (c & held) | (t & !held);
        unused_update[i] = mixed;
        if mixed & tu != t {
            critical |= 1 << i;
        }
    }
    (critical, unused_update)
}

/// The critical-word mask of a transition from `cur` to `target` (bit *i* = word *i*):
/// 0 → a direct write, one bit → a hitless 3-step update, more → a breaking update.
#[must_use]
pub fn critical_words<K: EntryKind>(cur: &[u64; 8], target: &[u64; 8]) -> u8 {
    qword_diff::<K>(cur, target, &K::used(target)).0
}

/// Word-level access to one entry in memory.
trait EntryStore {
    fn load(&self) -> Result<[u64; 8], AccessError>;
    fn store(&self, word: usize, value: u64) -> Result<(), AccessError>;
    /// Makes the stores of a step visible to a non-coherent SMMU.
    fn publish(&self);
}

struct Stepper<'s, S, H> {
    store: &'s S,
    hook: &'s mut H,
    cur: [u64; 8],
    syncs: u32,
}

impl<S: EntryStore, H: SyncHook> Stepper<'_, S, H> {
    /// Stores the words of `new` in `words` that differ from memory; if any did, publishes
    /// and syncs.
    fn step(
        &mut self,
        new: &[u64; 8],
        words: core::ops::Range<usize>,
        what: WriteStep,
    ) -> Result<(), WriteError<H::Error>> {
        let mut changed = false;
        for i in words {
            let (Some(cur), Some(&val)) = (self.cur.get_mut(i), new.get(i)) else {
                continue;
            };
            if *cur != val {
                self.store.store(i, val)?;
                *cur = val;
                changed = true;
            }
        }
        if changed {
            self.store.publish();
            self.hook.sync(what).map_err(WriteError::Sync)?;
            self.syncs += 1;
        }
        Ok(())
    }
}

fn write_entry<K: EntryKind, S: EntryStore, H: SyncHook>(
    store: &S,
    target: &[u64; 8],
    hook: &mut H,
) -> Result<WriteReport, WriteError<H::Error>> {
    let target_used = K::used(target);
    for (i, (&t, &u)) in target.iter().zip(target_used.iter()).enumerate() {
        if t & !u != 0 {
            return Err(WriteError::UnusedBitsSet {
                word: i as u8,
                bits: t & !u,
            });
        }
    }
    let cur = store.load()?;
    let (critical, unused_update) = qword_diff::<K>(&cur, target, &target_used);
    let mut s = Stepper {
        store,
        hook,
        cur,
        syncs: 0,
    };
    let breaking = critical.count_ones() >= 2;
    match critical.count_ones() {
        0 => s.step(target, 0..8, WriteStep::Direct)?,
        1 => {
            let c = critical.trailing_zeros() as usize;
            let mut prep = unused_update;
            if let (Some(p), Some(&now)) = (prep.get_mut(c), cur.get(c)) {
                *p = now;
            }
            s.step(&prep, 0..8, WriteStep::UnusedBits)?;
            s.step(target, c..c + 1, WriteStep::Critical { word: c as u8 })?;
            s.step(target, 0..8, WriteStep::Finish)?;
        }
        _ => {
            let mut invalid = s.cur;
            invalid[0] = 0;
            s.step(&invalid, 0..1, WriteStep::Invalidate)?;
            s.step(target, 1..8, WriteStep::Body)?;
            s.step(target, 0..1, WriteStep::Validate)?;
        }
    }
    Ok(WriteReport {
        syncs: s.syncs,
        critical,
        breaking,
    })
}

/// One 64-byte entry (an STE or a CD) in table memory, ready to be read or rewritten.
///
/// STE slots come from [`StreamTable::ste`](crate::StreamTable::ste); CD slots are made by
/// the driver over its CD tables with [`EntrySlot::new`].
///
/// The writer assumes it is the only writer of this entry for the duration of
/// [`write`](Self::write) (the caller's per-StreamID / per-domain lock); concurrent
/// *readers* (the SMMU) are what it is designed for.
pub struct EntrySlot<'a, M: TableMemory + ?Sized, K: EntryKind> {
    mem: &'a M,
    /// An alias of a region owned by a table or by the caller, never released through
    /// this slot; the borrow `'a` keeps the owner alive.
    region: DmaRegion,
    index: usize,
    coherency: Coherency,
    kind: PhantomData<K>,
}

/// A stream table entry slot.
pub type SteSlot<'a, M> = EntrySlot<'a, M, Ste>;
/// A context descriptor slot.
pub type CdSlot<'a, M> = EntrySlot<'a, M, Cd>;

impl<M: TableMemory + ?Sized, K: EntryKind> core::fmt::Debug for EntrySlot<'_, M, K> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("EntrySlot")
            .field("pa", &self.pa())
            .field("index", &self.index)
            .field("coherency", &self.coherency)
            .finish()
    }
}

impl<'a, M: TableMemory + ?Sized, K: EntryKind> EntrySlot<'a, M, K> {
    /// The entry `index` (64-byte units) of `region`, a table the caller owns (for example
    /// a CD table allocated through `mem`).
    ///
    /// # Errors
    ///
    /// [`AccessError`] when the entry is not inside the region.
    pub fn new(
        mem: &'a M,
        region: &'a DmaRegion,
        index: usize,
        coherency: Coherency,
    ) -> Result<Self, AccessError> {
        let end = index.checked_add(1).and_then(|n| n.checked_mul(64));
        if end.is_none_or(|e| e > region.len()) {
            return Err(AccessError {
                index,
                len: region.len(),
            });
        }
        // SAFETY: the alias borrows `region` for 'a through the slot's lifetime and is never
        // released (only `free`/`unmap` of the owner release it).
        let alias = unsafe { region.alias() };
        Ok(Self {
            mem,
            region: alias,
            index,
            coherency,
            kind: PhantomData,
        })
    }

    /// Builds a slot over an alias already known to be in bounds.
    #[inline]
    pub(crate) fn from_alias(
        mem: &'a M,
        region: DmaRegion,
        index: usize,
        coherency: Coherency,
    ) -> Self {
        Self {
            mem,
            region,
            index,
            coherency,
            kind: PhantomData,
        }
    }

    /// The physical address of the entry.
    #[must_use]
    pub fn pa(&self) -> PhysAddr {
        self.region
            .pa()
            .wrapping_add((self.index as u64).wrapping_mul(64))
    }

    /// Reads the 8 words (atomic 64-bit loads).
    ///
    /// # Errors
    ///
    /// [`AccessError`] only if the slot's bounds were violated (never for slots made by
    /// this crate).
    #[inline]
    pub fn read(&self) -> Result<[u64; 8], AccessError> {
        access::load_entry(&self.region, self.index)
    }

    /// Reads word `index` (0–7) of the entry with one atomic 64-bit load, for callers
    /// that need one word only (for example STE dw0, which holds V and Config: kdump.md
    /// §10). It does not allocate.
    ///
    /// Cache maintenance is the same as for [`read`](Self::read): none per read. Table
    /// memory is the CPU's own (written by this crate and cleaned for the SMMU), or an
    /// adopted mapping that was invalidated when it was mapped
    /// ([`StreamTable::adopt`](crate::StreamTable::adopt),
    /// [`StreamTable::ensure_sid`](crate::StreamTable::ensure_sid)); the SMMU never writes
    /// entries.
    ///
    /// # Errors
    ///
    /// [`AccessError`] with `len` = 64 when `index` ≥ 8 (never a panic), or if the slot's
    /// bounds were violated (never for slots made by this crate).
    ///
    /// # Example
    ///
    /// ```
    /// use core::ptr::NonNull;
    /// use core::sync::atomic::AtomicU64;
    /// use smmu_regs::PhysAddr;
    /// use smmu_strtab::{AccessError, Coherency, DmaRegion, MemoryError, SteSlot, TableMemory};
    /// # struct NoMemory;
    /// # // SAFETY: hands out no memory at all.
    /// # unsafe impl TableMemory for NoMemory {
    /// #     fn alloc_zeroed(&self, _: usize, _: usize) -> Result<DmaRegion, MemoryError> {
    /// #         Err(MemoryError::NoMemory)
    /// #     }
    /// #     unsafe fn free(&self, _: DmaRegion) {}
    /// #     fn map(&self, _: PhysAddr, _: usize) -> Result<DmaRegion, MemoryError> {
    /// #         Err(MemoryError::MapFailed)
    /// #     }
    /// #     unsafe fn unmap(&self, _: DmaRegion) {}
    /// #     fn clean(&self, _: &DmaRegion, _: usize, _: usize) {}
    /// #     fn invalidate(&self, _: &DmaRegion, _: usize, _: usize) {}
    /// # }
    ///
    /// // One STE (smmuv3.md §2.1): dw0 = V (bit 0) | Config = S2_TRANS (0b110, bits 3:1),
    /// // dw2 = S2VMID 7.
    /// let ste: [AtomicU64; 8] = core::array::from_fn(|i| {
    ///     AtomicU64::new([0b1101, 0, 7, 0, 0, 0, 0, 0][i])
    /// });
    /// let ptr = NonNull::from(&ste).cast::<u64>();
    /// // SAFETY: `ste` outlives the region, is 8-byte aligned and only accessed atomically.
    /// let region = unsafe { DmaRegion::new(PhysAddr(0x8000_0000), ptr, 64) };
    /// let slot = SteSlot::new(&NoMemory, &region, 0, Coherency::Coherent)?;
    ///
    /// let dw0 = slot.read_word(0)?;
    /// assert_eq!((dw0 & 1, (dw0 >> 1) & 7), (1, 0b110)); // valid, stage 2 only
    /// assert_eq!(slot.read_word(2)?, 7);
    /// assert_eq!(slot.read_word(8), Err(AccessError { index: 8, len: 64 }));
    /// # Ok::<(), AccessError>(())
    /// ```
    #[inline]
    pub fn read_word(&self, index: usize) -> Result<u64, AccessError> {
        if index >= 8 {
            return Err(AccessError { index, len: 64 });
        }
        access::load(&self.region, self.index * 8 + index)
    }

    /// Rewrites the entry to `target` with the used-bits / update-safe / hitless
    /// algorithm of spec §8.1, calling `hook` after each step, and reports how many syncs
    /// it took.
    ///
    /// For each 64-bit word *i*, with `cur_used = used(cur) & !safe` (safe bits, from
    /// [`ste_update_safe`](crate::ste_update_safe), counted only where both entries use
    /// them), the writer builds
    /// `unused_update[i] = (cur[i] & cur_used[i]) | (target[i] & !cur_used[i])` and calls
    /// word *i* **critical** when `unused_update[i] & used(target)[i] != target[i]`. Then:
    ///
    /// | critical words | steps |
    /// |---|---|
    /// | 0 | [`WriteStep::Direct`]: write the target |
    /// | 1 (hitless) | [`WriteStep::UnusedBits`]: `unused_update` in every other word; [`WriteStep::Critical`]: the critical word; [`WriteStep::Finish`]: the whole target |
    /// | ≥ 2 (breaking) | [`WriteStep::Invalidate`]: word 0 := 0 (V = 0); [`WriteStep::Body`]: words 1..8; [`WriteStep::Validate`]: word 0 |
    ///
    /// Each step stores only the words that change, each with one 64-bit atomic store;
    /// if anything changed, it cleans the entry (non-coherent SMMU) and then calls the
    /// hook. The current entry is read from memory once at the start: the caller must be
    /// the only writer of this entry for the duration of the call.
    ///
    /// # Errors
    ///
    /// [`WriteError::UnusedBitsSet`] (before writing anything) when `target` sets bits its
    /// own used mask does not cover; [`WriteError::Sync`] when the hook fails.
    pub fn write<H: SyncHook>(
        &self,
        target: &[u64; 8],
        hook: &mut H,
    ) -> Result<WriteReport, WriteError<H::Error>> {
        write_entry::<K, _, _>(self, target, hook)
    }
}

impl<M: TableMemory + ?Sized, K: EntryKind> EntryStore for EntrySlot<'_, M, K> {
    fn load(&self) -> Result<[u64; 8], AccessError> {
        self.read()
    }
    fn store(&self, word: usize, value: u64) -> Result<(), AccessError> {
        if word >= 8 {
            return Err(AccessError {
                index: word,
                len: 64,
            });
        }
        access::store(&self.region, self.index * 8 + word, value)
    }
    fn publish(&self) {
        if self.coherency == Coherency::NonCoherent {
            self.mem.clean(&self.region, self.index * 64, 64);
        }
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use core::cell::RefCell;
    use std::vec::Vec;

    use super::*;

    /// An entry in a plain array, recording the entry at each sync.
    struct ArrayEntry(RefCell<[u64; 8]>);
    impl EntryStore for ArrayEntry {
        fn load(&self) -> Result<[u64; 8], AccessError> {
            Ok(*self.0.borrow())
        }
        fn store(&self, word: usize, value: u64) -> Result<(), AccessError> {
            self.0.borrow_mut()[word] = value;
            Ok(())
        }
        fn publish(&self) {}
    }

    fn run<K: EntryKind>(
        cur: [u64; 8],
        target: [u64; 8],
    ) -> (WriteReport, Vec<(WriteStep, [u64; 8])>) {
        let e = ArrayEntry(RefCell::new(cur));
        let mut log = Vec::new();
        let mut hook = |s: WriteStep| -> Result<(), ()> {
            log.push((s, *e.0.borrow()));
            Ok(())
        };
        let r = write_entry::<K, _, _>(&e, &target, &mut hook).unwrap();
        assert_eq!(*e.0.borrow(), target);
        (r, log)
    }

    #[test]
    fn bypass_to_abort_is_hitless_in_two_syncs() {
        let (r, log) = run::<Ste>([9, 1 << 44, 0, 0, 0, 0, 0, 0], [1, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(
            r,
            WriteReport {
                syncs: 2,
                critical: 1,
                breaking: false
            }
        );
        assert_eq!(
            log[0],
            (
                WriteStep::Critical { word: 0 },
                [1, 1 << 44, 0, 0, 0, 0, 0, 0]
            )
        );
        assert_eq!(log[1], (WriteStep::Finish, [1, 0, 0, 0, 0, 0, 0, 0]));
    }

    #[test]
    fn no_change_means_no_sync() {
        let (r, log) = run::<Cd>([0; 8], [0; 8]);
        assert_eq!((r.syncs, log.len()), (0, 0));
    }

    #[test]
    fn rejects_targets_with_unused_bits() {
        let e = ArrayEntry(RefCell::new([0; 8]));
        let mut hook = |_s: WriteStep| -> Result<(), ()> { Ok(()) };
        let err = write_entry::<Ste, _, _>(&e, &[1, 1, 0, 0, 0, 0, 0, 0], &mut hook).unwrap_err();
        assert_eq!(err, WriteError::UnusedBitsSet { word: 1, bits: 1 });
        assert_eq!(*e.0.borrow(), [0; 8]);
    }

    #[test]
    fn hook_errors_propagate() {
        let e = ArrayEntry(RefCell::new([1, 0, 0, 0, 0, 0, 0, 0]));
        let mut hook = |_s: WriteStep| -> Result<(), u32> { Err(7) };
        let err = write_entry::<Ste, _, _>(&e, &[9, 0, 0, 0, 0, 0, 0, 0], &mut hook).unwrap_err();
        assert_eq!(err, WriteError::Sync(7));
    }

    /// A `TableMemory` that hands out no memory and records the cache maintenance it is
    /// asked for: (`"clean"` / `"invalidate"`, offset, length).
    #[derive(Default)]
    struct CacheOps(RefCell<Vec<(&'static str, usize, usize)>>);

    // SAFETY: hands out no memory at all; the cache hooks only record their arguments.
    unsafe impl TableMemory for CacheOps {
        fn alloc_zeroed(
            &self,
            _len: usize,
            _align: usize,
        ) -> Result<DmaRegion, crate::MemoryError> {
            Err(crate::MemoryError::NoMemory)
        }
        unsafe fn free(&self, _region: DmaRegion) {}
        fn map(&self, _pa: PhysAddr, _len: usize) -> Result<DmaRegion, crate::MemoryError> {
            Err(crate::MemoryError::MapFailed)
        }
        unsafe fn unmap(&self, _region: DmaRegion) {}
        fn clean(&self, _region: &DmaRegion, offset: usize, len: usize) {
            self.0.borrow_mut().push(("clean", offset, len));
        }
        fn invalidate(&self, _region: &DmaRegion, offset: usize, len: usize) {
            self.0.borrow_mut().push(("invalidate", offset, len));
        }
    }

    /// Two STEs written by hand (smmuv3.md §2.1), one word at a time.
    ///
    /// STE 0: V = 1, Config = BYPASS (0b100), SHCFG = incoming (dw1\[45:44\] = 1).
    /// STE 1: V = 1, Config = S1_TRANS (0b101), S1ContextPtr = 0x8_1234_5000,
    /// S1CDMax = 3; S1DSS = 2, S1CIR = S1COR = 1 (WB), S1CSH = 3 (ISH), EATS = 1;
    /// S2VMID = 0x42; words 3..7 hold markers that no field decodes.
    const HAND_WRITTEN: [[u64; 8]; 2] = [
        [0x9, 1 << 44, 0, 0, 0, 0, 0, 0],
        [
            1 | 0b101 << 1 | 0x8_1234_5000 | 3 << 59,
            2 | 1 << 2 | 1 << 4 | 3 << 6 | 1 << 28,
            0x42,
            0x3333_0000_0000_0003,
            0x4444_0000_0000_0004,
            0x5555_0000_0000_0005,
            0x6666_0000_0000_0006,
            0x7777_0000_0000_0007,
        ],
    ];

    fn hand_written_table() -> Vec<core::sync::atomic::AtomicU64> {
        HAND_WRITTEN
            .iter()
            .flatten()
            .map(|&w| core::sync::atomic::AtomicU64::new(w))
            .collect()
    }

    fn table_region(buf: &[core::sync::atomic::AtomicU64]) -> DmaRegion {
        let ptr = core::ptr::NonNull::from(buf).cast::<u64>();
        // SAFETY: `buf` outlives every use of the region in these tests, is 8-byte
        // aligned and is only accessed atomically through the region.
        unsafe { DmaRegion::new(PhysAddr(0x4000_0000), ptr, buf.len() * 8) }
    }

    #[test]
    fn read_word_returns_each_word_of_the_entry() {
        let buf = hand_written_table();
        let region = table_region(&buf);
        let mem = CacheOps::default();
        for (index, ste) in HAND_WRITTEN.iter().enumerate() {
            let slot = SteSlot::new(&mem, &region, index, Coherency::Coherent).unwrap();
            for (w, &expected) in ste.iter().enumerate() {
                assert_eq!(slot.read_word(w), Ok(expected), "STE {index} word {w}");
            }
            assert_eq!(slot.read(), Ok(*ste));
        }
        // Decoded from dw0 alone (kdump.md §10 needs V and Config only).
        let slot = SteSlot::new(&mem, &region, 1, Coherency::Coherent).unwrap();
        let dw0 = slot.read_word(0).unwrap();
        assert_eq!(dw0 & 1, 1, "V");
        assert_eq!((dw0 >> 1) & 7, 0b101, "Config = S1_TRANS");
        assert_eq!(dw0 & 0x00ff_ffff_ffff_ffc0, 0x8_1234_5000, "S1ContextPtr");
        assert_eq!(dw0 >> 59, 3, "S1CDMax");
        assert!(mem.0.borrow().is_empty());
    }

    #[test]
    fn read_word_out_of_range_is_an_error_not_a_panic() {
        let buf = hand_written_table();
        let region = table_region(&buf);
        let mem = CacheOps::default();
        // STE 0: word 8 would be STE 1's dw0, which must not be read through this slot.
        let slot = SteSlot::new(&mem, &region, 0, Coherency::Coherent).unwrap();
        for index in [8, 9, 64, usize::MAX / 8, usize::MAX] {
            assert_eq!(
                slot.read_word(index),
                Err(AccessError { index, len: 64 }),
                "{index}"
            );
        }
        // A CD slot is the same entry type and checks the same way.
        let cd = CdSlot::new(&mem, &region, 1, Coherency::Coherent).unwrap();
        assert_eq!(cd.read_word(8), Err(AccessError { index: 8, len: 64 }));
        assert_eq!(cd.read_word(7), Ok(HAND_WRITTEN[1][7]));
    }

    #[test]
    fn read_word_does_the_same_cache_maintenance_as_read() {
        for coherency in [Coherency::Coherent, Coherency::NonCoherent] {
            let buf = hand_written_table();
            let region = table_region(&buf);
            let mem = CacheOps::default();
            let slot = SteSlot::new(&mem, &region, 1, coherency).unwrap();
            let _ = slot.read().unwrap();
            let by_read = mem.0.take();
            for w in 0..8 {
                let _ = slot.read_word(w).unwrap();
            }
            assert_eq!(mem.0.take(), by_read, "{coherency:?}");
            // A write is cleaned (non-coherent) before the hook runs; a word read
            // afterwards sees it. The target keeps STE 1's stage-1 fields, with S2VMID
            // (used by a stage-1 STE) changed and no marker words (unused bits).
            let mut target = [0; 8];
            target[..2].copy_from_slice(&HAND_WRITTEN[1][..2]);
            target[2] = 0x43;
            let mut hook = |_: WriteStep| Ok::<(), ()>(());
            slot.write(&target, &mut hook).unwrap();
            let cleaned = mem.0.take();
            match coherency {
                Coherency::Coherent => assert!(cleaned.is_empty()),
                Coherency::NonCoherent => assert!(cleaned.contains(&("clean", 64, 64))),
            }
            assert_eq!(slot.read_word(2), Ok(0x43));
            assert_eq!(slot.read_word(3), Ok(0));
            assert!(mem.0.borrow().is_empty());
        }
    }
}
