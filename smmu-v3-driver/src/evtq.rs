//! The queues the SMMU produces into: the event queue and the PRI queue (spec §5, §6).

use core::sync::atomic::{AtomicU64, Ordering, fence};

use smmu_regs::regs::{EventqCons, EventqProd, QueueKind, offset};
use smmu_strtab::{Coherency, TableMemory};

use crate::error::Error;
use crate::hal::Registers;
use crate::ring::Ring;
use crate::spin::SpinMutex;

/// What one drain did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub struct Drained {
    /// Records consumed.
    pub records: u32,
    /// An overflow (lost records) was found and acknowledged.
    pub overflow: bool,
}

/// An SMMU-produced queue (event queue: 32-byte records; PRI queue: 16-byte entries).
pub(crate) struct InQueue<M: TableMemory> {
    ring: Ring<M>,
    kind: QueueKind,
    /// Software copy of CONS (RD and OVACKFLG).
    cons: SpinMutex<u32>,
    overflows: AtomicU64,
}

impl<M: TableMemory> InQueue<M> {
    /// Allocates a queue of `kind` (event or PRI) with 2^`log2size` entries.
    pub(crate) fn new(
        mem: M,
        kind: QueueKind,
        log2size: u8,
        coherency: Coherency,
    ) -> Result<Self, Error> {
        Ok(Self {
            ring: Ring::new(mem, kind, log2size, coherency)?,
            kind,
            cons: SpinMutex::new(0),
            overflows: AtomicU64::new(0),
        })
    }

    /// The `*_BASE` register value.
    pub(crate) fn base_register(&self) -> Result<u64, Error> {
        self.ring.base_register()
    }

    /// Records that the hardware pointers were reset to 0.
    pub(crate) fn reset_pointers(&mut self) {
        *self.cons.get_mut() = 0;
    }

    /// Overflows seen so far.
    pub(crate) fn overflows(&self) -> u64 {
        self.overflows.load(Ordering::Relaxed)
    }

    fn registers(&self) -> (usize, usize) {
        match self.kind {
            QueueKind::Priq => (offset::PRIQ_PROD, offset::PRIQ_CONS),
            _ => (offset::EVENTQ_PROD, offset::EVENTQ_CONS),
        }
    }

    /// Consumes the entries the SMMU has produced (at most one queue's worth, read
    /// against one snapshot of PROD), calling `f` with each in order, then writes CONS
    /// with the overflow acknowledged. `N` is the entry size in words (4 or 2).
    pub(crate) fn drain<H: Registers, const N: usize>(
        &self,
        hal: &H,
        mut f: impl FnMut([u64; N]),
    ) -> Result<Drained, Error> {
        let mut cons = self.cons.lock();
        let (prod_reg, cons_reg) = self.registers();
        let prod = EventqProd::from(hal.read32(prod_reg));
        // Entries are read after PROD (the HAL orders the read; this orders the CPU).
        fence(Ordering::Acquire);
        let size = self.ring.size();
        let mask = size.pointer_mask();
        let old = EventqCons::from(*cons);
        let overflow = prod.overflow_pending(old);
        if overflow {
            self.overflows.fetch_add(1, Ordering::Relaxed);
        }
        let end = prod.wr() & mask;
        let mut ptr = old.rd() & mask;
        let mut records = 0u32;
        while !size.is_empty(end, ptr) && records < size.entries() {
            let mut words = [0u64; N];
            self.ring.read_entry(ptr, &mut words)?;
            f(words);
            ptr = size.inc(ptr);
            records += 1;
        }
        // `ptr` is masked to at most 20 bits, so the setter cannot fail.
        let new = EventqCons::new()
            .with_rd_checked(ptr)
            .unwrap_or_default()
            .with_ovackflg(prod.ovflg());
        // Reads of the entries complete before the SMMU may overwrite them.
        fence(Ordering::SeqCst);
        hal.write32(cons_reg, u32::from(new));
        *cons = u32::from(new);
        Ok(Drained { records, overflow })
    }
}
