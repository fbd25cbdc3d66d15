//! Queue memory: a ring of fixed-size entries in DMA memory shared with the SMMU.
//!
//! This is the only module that turns a [`DmaRegion`] pointer into references. Every
//! entry word is accessed with one aligned 64-bit atomic operation (the SMMU or, on the
//! host, the model reads and writes the same words concurrently), never through a plain
//! reference or a `memcpy`.

use core::mem::ManuallyDrop;
use core::sync::atomic::{AtomicU64, Ordering};

use smmu_regs::PhysAddr;
use smmu_regs::regs::{QueueBase, QueueKind, QueueSize};
use smmu_strtab::{AccessError, Coherency, DmaRegion, MemoryError, TableMemory};

use crate::error::Error;

/// A queue's memory: 2^n entries of 16 or 32 bytes.
pub(crate) struct Ring<M: TableMemory> {
    mem: M,
    region: ManuallyDrop<DmaRegion>,
    kind: QueueKind,
    size: QueueSize,
    coherency: Coherency,
}

impl<M: TableMemory> Ring<M> {
    /// Allocates a zeroed ring of 2^`log2size` entries for a queue of `kind`, aligned as
    /// the SMMU requires (to its size, at least 32 bytes).
    pub(crate) fn new(
        mem: M,
        kind: QueueKind,
        log2size: u8,
        coherency: Coherency,
    ) -> Result<Self, Error> {
        let size = QueueSize::new(log2size);
        // Entries are 16 or 32 bytes and there are at most 2^19 of them: no overflow.
        let bytes = (kind.entry_bytes() as usize) << size.log2size();
        let align = bytes.max(32);
        let region = mem.alloc_zeroed(bytes, align)?;
        if region.len() != bytes || !region.pa().is_aligned(align as u64) {
            // SAFETY: returned by `alloc_zeroed` just above, released once, never shown
            // to the SMMU.
            unsafe { mem.free(region) };
            return Err(MemoryError::BadRegion.into());
        }
        Ok(Self {
            mem,
            region: ManuallyDrop::new(region),
            kind,
            size,
            coherency,
        })
    }

    /// The queue size.
    pub(crate) fn size(&self) -> QueueSize {
        self.size
    }

    /// The `*_BASE` register value: address, LOG2SIZE and the RA/WA hint (as Linux).
    pub(crate) fn base_register(&self) -> Result<u64, Error> {
        let base = QueueBase::try_new(self.kind, self.region.pa(), self.size.log2size())?;
        Ok(u64::from(base.with_alloc_hint(true)))
    }

    fn entry_words(&self) -> usize {
        (self.kind.entry_bytes() / 8) as usize
    }

    /// Physical address of entry `index` (taken modulo the queue size).
    pub(crate) fn entry_pa(&self, index: u32) -> PhysAddr {
        let index = self.size.index(index);
        self.region
            .pa()
            .wrapping_add(u64::from(index) * self.kind.entry_bytes())
    }

    /// The word `i` of the ring, as an atomic.
    fn word(&self, i: usize) -> Result<&AtomicU64, AccessError> {
        let len = self.region.len();
        if i >= len / 8 {
            return Err(AccessError { index: i, len });
        }
        // SAFETY: `DmaRegion`'s contract makes `ptr` valid for 64-bit atomic accesses
        // of `len` bytes from any thread until the region is freed, which happens only in
        // `drop` (the reference borrows `self`). `i < len / 8` keeps the word in bounds,
        // and the pointer is 8-byte aligned (`NonNull<u64>`). All accesses to the ring
        // are atomic, so no non-atomic access races with this one.
        Ok(unsafe { AtomicU64::from_ptr(self.region.ptr().as_ptr().add(i)) })
    }

    fn first_word(&self, index: u32) -> usize {
        self.size.index(index) as usize * self.entry_words()
    }

    /// Writes entry `index` (modulo the size) word by word, then cleans it for a
    /// non-coherent SMMU. `words` must be one entry long.
    pub(crate) fn write_entry(&self, index: u32, words: &[u64]) -> Result<(), Error> {
        let n = self.entry_words();
        if words.len() != n {
            return Err(AccessError {
                index: words.len(),
                len: n * 8,
            }
            .into());
        }
        let first = self.first_word(index);
        for (i, &w) in words.iter().enumerate() {
            self.word(first + i)?.store(w, Ordering::Relaxed);
        }
        if self.coherency == Coherency::NonCoherent {
            self.mem.clean(&self.region, first * 8, n * 8);
        }
        Ok(())
    }

    /// Reads entry `index` (modulo the size) after invalidating it for a non-coherent
    /// SMMU. Fills `out`, which must be one entry long.
    pub(crate) fn read_entry(&self, index: u32, out: &mut [u64]) -> Result<(), Error> {
        let n = self.entry_words();
        if out.len() != n {
            return Err(AccessError {
                index: out.len(),
                len: n * 8,
            }
            .into());
        }
        let first = self.first_word(index);
        if self.coherency == Coherency::NonCoherent {
            self.mem.invalidate(&self.region, first * 8, n * 8);
        }
        for (i, w) in out.iter_mut().enumerate() {
            *w = self.word(first + i)?.load(Ordering::Acquire);
        }
        Ok(())
    }

    /// Loads word 0 of entry `index` (the word an MSI-signalled `CMD_SYNC` clears).
    pub(crate) fn load_first_word(&self, index: u32) -> Result<u64, Error> {
        Ok(self.word(self.first_word(index))?.load(Ordering::Acquire))
    }
}

impl<M: TableMemory> Drop for Ring<M> {
    fn drop(&mut self) {
        // SAFETY: the region came from `alloc_zeroed` of `self.mem` (in `new`) and is
        // released exactly once, here; the owner stops the queue before dropping it.
        unsafe { self.mem.free(ManuallyDrop::take(&mut self.region)) };
    }
}
