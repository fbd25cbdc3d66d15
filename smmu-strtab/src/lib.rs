//! `smmu-strtab`: Arm SMMUv3 stream tables for `no_std` kernels and hypervisors.
//!
//! It builds, looks up, adopts and rewrites the in-memory structures through which an
//! SMMUv3 finds the configuration of each device (StreamID): linear and 2-level stream
//! tables, their L1 descriptors and STEs, and the hitless entry writer for STEs and
//! context descriptors (CDs).
//!
//! # Where it sits
//!
//! ```text
//!   smmu-v3-driver ──► smmu-strtab (this crate) ──► smmu-regs (formats, field positions)
//!        │                    │
//!        └── HAL ─────────────┴──► TableMemory: DMA memory, mapping, cache maintenance
//! ```
//!
//! The driver (`smmu-v3-driver`) owns the command queue and the hardware; this crate owns
//! the table memory and the order in which table words are written. It never touches MMIO
//! and never dereferences a physical address: all memory comes from a [`TableMemory`]
//! implementation, and every table word is read and written with one aligned 64-bit atomic
//! access (never a `memcpy` of a live entry).
//!
//! * [`Geometry`]: linear or 2-level, SPLIT 6/8/10, the L1 cap (2^17 like Linux), LOG2SIZE,
//!   the STRTAB_BASE / STRTAB_BASE_CFG values, sizes and alignments.
//! * [`StreamTable`]: allocation ([`StreamTable::new`]), O(1) allocation-free lookup
//!   ([`StreamTable::ste`]), on-demand L2 tables ([`StreamTable::ensure_sid`]), kdump
//!   adoption of a live table ([`StreamTable::adopt`], lazy L2 adoption), a scan of valid
//!   STEs ([`StreamTable::for_each_valid_ste`]), release on drop.
//! * [`EntrySlot::write`]: the used-bits / update-safe / hitless algorithm (spec §8.1),
//!   with a [`SyncHook`] after each step; the pure functions [`ste_used`],
//!   [`ste_update_safe`], [`cd_used`].
//!
//! # Ordering and coherency
//!
//! Table words are stored with `Release` atomic stores and loaded with `Acquire` loads.
//! A fresh L2 table is fully initialised (and cleaned) before its L1 descriptor is
//! published with one store. With [`Coherency::NonCoherent`], [`TableMemory::clean`] runs
//! after every publish step and before the [`SyncHook`]; [`TableMemory::invalidate`] runs
//! on adopted memory before it is first read. The barrier that orders the stores before
//! the SMMU is told (`DSB` before the `CMD_SYNC`) belongs to the driver's sync hook.
//!
//! # Example
//!
//! ```
//! use core::ptr::NonNull;
//! use core::sync::atomic::AtomicU64;
//! use std::sync::Mutex;
//! use smmu_regs::{PhysAddr, StreamId};
//! use smmu_strtab::{
//!     DmaRegion, MemoryError, StreamTable, StreamTableCaps, TableMemory, TablePolicy,
//! };
//!
//! /// A toy bump allocator over a host buffer; physical address = 0x8000_0000 + offset.
//! struct Arena { ram: Vec<AtomicU64>, next: Mutex<usize> }
//!
//! // SAFETY: regions point into `ram`, which outlives them, never overlap, are zeroed,
//! // and PAs are aligned as requested (the base PA is 2 GiB aligned).
//! unsafe impl TableMemory for Arena {
//!     fn alloc_zeroed(&self, len: usize, align: usize) -> Result<DmaRegion, MemoryError> {
//!         let mut next = self.next.lock().unwrap();
//!         let start = next.next_multiple_of(align);
//!         if start + len > self.ram.len() * 8 { return Err(MemoryError::NoMemory); }
//!         *next = start + len;
//!         let ptr = NonNull::new(self.ram[start / 8..].as_ptr() as *mut u64).unwrap();
//!         // SAFETY: in bounds of `ram`, 8-aligned, atomics only, never handed out twice.
//!         Ok(unsafe { DmaRegion::new(PhysAddr(0x8000_0000 + start as u64), ptr, len) })
//!     }
//!     unsafe fn free(&self, _region: DmaRegion) {}
//!     fn map(&self, _pa: PhysAddr, _len: usize) -> Result<DmaRegion, MemoryError> {
//!         Err(MemoryError::MapFailed)
//!     }
//!     unsafe fn unmap(&self, _region: DmaRegion) {}
//!     fn clean(&self, _region: &DmaRegion, _offset: usize, _len: usize) {}
//!     fn invalidate(&self, _region: &DmaRegion, _offset: usize, _len: usize) {}
//! }
//!
//! let arena = Arena { ram: (0..16384).map(|_| AtomicU64::new(0)).collect(), next: Mutex::new(0) };
//! let caps = StreamTableCaps { sid_bits: 16, two_level: true, attr_types_ovr: true };
//! let mut table = StreamTable::new(&arena, caps, &TablePolicy::default())?;
//! assert_eq!(table.strtab_base_cfg(), (1 << 16) | (8 << 6) | 16); // 2-level, SPLIT 8
//!
//! let sid = StreamId(0x1234);
//! assert!(table.ste(sid).is_err()); // no L2 table yet
//! table.ensure_sid(sid)?; // allocate + fill with abort STEs + publish the L1 descriptor
//! let slot = table.ste(sid)?;
//! assert_eq!(slot.read()?, [1, 0, 0, 0, 0, 0, 0, 0]); // V=1, Config=abort
//!
//! // Switch to bypass (SHCFG = incoming): a hitless update in two syncs.
//! let mut syncs = Vec::new();
//! let report = slot.write(&[0x9, 1 << 44, 0, 0, 0, 0, 0, 0], &mut |step| {
//!     syncs.push(step); // the driver issues CFGI_STE + CMD_SYNC here
//!     Ok::<(), ()>(())
//! }).unwrap();
//! assert_eq!((report.syncs, report.breaking), (2, false));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Features
//!
//! * `defmt`: `defmt::Format` for the public types (and `smmu-regs/defmt`).
#![no_std]

mod access;
mod adopt;
mod error;
mod geometry;
mod memory;
mod regs;
mod slots;
mod table;
mod used;
mod writer;

pub use adopt::AdoptPolicy;
pub use error::{
    AccessError, AdoptError, EnsureError, GeometryError, LookupError, ScanError, TableError,
    WriteError,
};
pub use geometry::{
    DEFAULT_MAX_L1, DefaultSte, Format, FormatPolicy, Geometry, L1_DESC_SIZE, STE_SIZE, Split,
    StreamTableCaps, TablePolicy,
};
pub use memory::{Coherency, DmaRegion, MemoryError, TableMemory};
pub use table::{Ensured, StreamTable, Strictness};
pub use used::{cd_update_safe, cd_used, ste_update_safe, ste_used};
pub use writer::{
    Cd, CdSlot, EntryKind, EntrySlot, Ste, SteSlot, SyncHook, WriteReport, WriteStep,
    critical_words,
};
