//! `smmu-model`: a functional model of an Arm SMMUv3 (IHI0070) that runs on the host,
//! with the physical memory it walks and DMA-capable devices whose transactions go
//! through it.
//!
//! This crate is the "hardware" of the smmu-rs stack. The driver (`smmu-v3-driver`)
//! runs on it through its HAL: register reads and writes are forwarded to
//! [`Smmu::read32`] / [`Smmu::write32`] (and the 64-bit forms), DMA memory comes from
//! [`PhysMemory::alloc`] and [`PhysMemory::host_ptr`]. Tests and the kdump demo drive
//! [`DmaDevice`]s and read the [`Ledger`] to see which transactions completed,
//! faulted, were aborted or were **misdirected**.
//!
//! The model follows the Arm specification, not any reference emulator: SMMUv3.2
//! write guards (`STRTAB_BASE`, `STRTAB_BASE_CFG`, `CR1`, `CR2` ignored while
//! `SMMUEN` or `CR0ACK.SMMUEN` is set; queue and IRQ guards), `C_BAD_STREAMID` gated by
//! `CR2.RECINVSID`, the literal-`LOG2SIZE` stream-table alignment, `Span` limits,
//! `EVENTQ_PROD.OVFLG` on overflow, `CMD_SYNC` MSI completion writes, and
//! configuration / TLB caches that only the right `CFGI_*` / `TLBI_*` commands clear —
//! so a driver that forgets an invalidation sees stale translations, as on hardware.
//! It walks every table itself from the spec (it does not share code with the
//! stream-table crate or the driver) so that it catches their bugs instead of sharing
//! them.
//!
//! The model is `Send + Sync`: devices may translate from their own threads while the
//! driver rewrites tables and issues commands, which is how torn entry updates are
//! caught. It also survives "a crash": a driver instance can be dropped without any
//! teardown and a new one (the kdump kernel) attached to the same [`Smmu`] and
//! [`PhysMemory`].
//!
//! # Example
//!
//! Build a linear stream table by hand in model memory, enable the SMMU and translate
//! a transaction through a bypass STE.
//!
//! ```
//! use std::sync::Arc;
//! use smmu_model::{ModelConfig, PhysMemory, RegionKind, Smmu, Transaction, TranslationKind};
//!
//! let mem = Arc::new(PhysMemory::new());
//! mem.add_region(0x8000_0000, 16 << 20, RegionKind::Ram)?;
//! let smmu = Smmu::new(ModelConfig::default(), Arc::clone(&mem));
//!
//! // A linear table of 2^4 STEs. STE 3: dw0 = V (bit 0) | Config = 0b100 (bypass, bits 3:1).
//! let strtab = mem.alloc(RegionKind::Ram, 16 * 64, 4096)?;
//! mem.write_u64(strtab + 3 * 64, 1 | 0b100 << 1)?;
//!
//! smmu.write64(0x80, strtab); // STRTAB_BASE
//! smmu.write32(0x88, 4); // STRTAB_BASE_CFG: FMT = linear, LOG2SIZE = 4
//! smmu.write32(0x20, 1); // CR0.SMMUEN
//! assert_eq!(smmu.read32(0x24) & 1, 1); // CR0ACK.SMMUEN
//!
//! let t = smmu.translate(&Transaction::read(3, 0x1234_5000, 8)).unwrap();
//! assert_eq!(t.pa, 0x1234_5000);
//! assert_eq!(t.kind, TranslationKind::SteBypass);
//!
//! // STE 4 is all zeros (V = 0): C_BAD_STE.
//! let f = smmu.translate(&Transaction::read(4, 0x1000, 8)).unwrap_err();
//! assert_eq!(f.event_id(), Some(smmu_model::EventId::C_BAD_STE));
//! # Ok::<(), smmu_model::MemError>(())
//! ```
//!
//! # Modules of behaviour
//!
//! * [`PhysMemory`]: RAM regions backed by stable host allocations of `AtomicU64`,
//!   page allocators per region (normal RAM, crashkernel), read-fault injection.
//! * [`Smmu`]: the register file (page 0 and page 1), command queue consumer, event
//!   queue producer, caches and translation ([`Smmu::translate`],
//!   [`Smmu::dma_read`], [`Smmu::dma_write`]).
//! * [`DmaDevice`], [`DmaProgram`], [`Ledger`], [`ExpectedMapping`]: devices and the
//!   transaction ledger.
//!
//! # Deliberate choices
//!
//! * `CR0`, `IRQ_CTRL` and `GBPA` updates take effect at once (CR0ACK / IRQ_CTRLACK
//!   follow immediately, `GBPA.Update` never reads 1), which the spec permits.
//! * Toggling `SMMUEN` does not invalidate any cache: only `CFGI_*` / `TLBI_*` do.
//! * STEs found invalid are cached until `CFGI_STE` (configurable); an L1STD is cached
//!   only when it selects an L2 table; CDs are cached only when valid; a failed fetch
//!   is never cached. `CFGI_STE` also drops the CDs cached for that StreamID.
//! * The TLB holds final translations (stage 1, stage 2, or combined nested entries);
//!   walk caches are not modelled. `TLBI_S2_IPA` does not drop combined nested
//!   entries (software must use `TLBI_S12_VMALL` / `TLBI_NH_*`, as on hardware).
//! * Caches are keyed by StreamID / L1 index / (StreamID, SubstreamID) and by
//!   (VMID, ASID, page), not by table address: after pointing `STRTAB_BASE` at another
//!   table, software must issue `CFGI_ALL`, as the spec requires.
//! * No transaction ever stalls: with `STALL_MODEL` 0 or 2 a fault that would stall is
//!   terminated.
//! * STE and CD validity (`C_BAD_STE`, `C_BAD_CD`) is decided by `smmu-regs`' checks
//!   of spec §2.3 / §2.5; the model's own decoder extracts the walk parameters and its
//!   own reading of the same rules is cross-checked against `smmu-regs` in the unit
//!   tests. Command decoding and event encoding also use `smmu-regs`.

mod cache;
mod cmdq;
mod config;
mod device;
mod event;
mod mem;
mod regs;
mod smmu;
mod structs;
mod translate;
mod walk;

pub use cmdq::CommandLogEntry;
pub use config::{CmdqMode, ModelConfig, SmmuVersion};
pub use device::{
    Counts, DmaDevice, DmaOp, DmaProgram, ExpectedMapping, Ledger, LedgerEntry, Outcome,
};
pub use event::{Disposition, EventId, EventRecord, FaultClass, FaultLogEntry};
pub use mem::{MAX_REGIONS, MemError, PAGE_SIZE, PhysMemory, RegionInfo, RegionKind};
pub use smmu::{Smmu, Stats};
pub use translate::{
    AbortCause, Access, DmaError, Fault, Transaction, Translated, TranslationKind,
};

#[cfg(test)]
mod tests {
    #[test]
    fn model_is_send_sync() {
        fn check<T: Send + Sync>() {}
        check::<super::Smmu>();
        check::<super::PhysMemory>();
        check::<super::DmaDevice>();
        check::<super::Ledger>();
    }
}
