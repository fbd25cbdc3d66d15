//! `smmu-v3-driver`: a `no_std` driver for the Arm SMMUv3 IOMMU (Arm IHI0070).
//!
//! It probes and resets the SMMU, runs its command, event and PRI queues, keeps the
//! stream table and the per-device context-descriptor tables, and implements the
//! [`iommu_core::IommuDriver`] trait, so that an OS puts devices behind the SMMU with
//! `iommu-core`'s policy (groups, default domains, DMA ownership, deferred attach).
//! Blocked (abort), identity (bypass), stage-1 and stage-2 paging domains are supported,
//! with IO page tables that the OS may replace with its own.
//!
//! # Where it sits
//!
//! ```text
//!   OS device model / DMA API ──► iommu-core ──IommuDriver──► smmu-v3-driver (this crate)
//!                                                                 │   │
//!          smmu-regs (formats) ◄── smmu-strtab (stream tables) ◄──┘   │ HAL: Registers,
//!                                                                     ▼ TableMemory, Platform
//!                                                   the SMMU, or smmu-model on the host
//! ```
//!
//! The driver never touches MMIO or physical memory itself: everything goes through the
//! [`Hal`] the OS provides ([`Registers`] + [`TableMemory`] + [`Platform`], each an
//! `unsafe trait` whose docs say what an implementation guarantees). The `smmu-testbed`
//! crate of this workspace implements it over `smmu-model`, and the driver's integration
//! tests run there.
//!
//! # Life cycle
//!
//! 1. [`probe`] reads the ID registers, refuses what the driver cannot drive
//!    ([`Error::Unsupported`]) and derives the [`Features`] and [`Options`] (coherency
//!    from firmware or IDR0.COHACC, kdump boot, MSI polling, stage of paging domains…).
//! 2. [`SmmuV3::new`] allocates the queues and the stream table (linear or 2-level by
//!    the geometry rules of `smmu-strtab`). Nothing is written to the SMMU yet.
//! 3. [`SmmuV3::reset`] programs and enables it in the spec's order, every wait bounded.
//! 4. The OS hands the driver to [`iommu_core::IommuCore`] and probes its devices.
//!
//! ```no_run
//! use iommu_core::{DefaultDomainKind, DeviceDesc, DeviceId, IommuCore, Iova, PhysAddr, Prot, StreamId};
//! use smmu_v3_driver::{Config, Error, Hal, SmmuV3, probe};
//!
//! fn bring_up<H: Hal>(hal: H) -> Result<IommuCore<SmmuV3<H>>, iommu_core::Error<Error>> {
//!     let (features, options) = probe(&hal, &Config::default()).map_err(iommu_core::Error::Driver)?;
//!     let mut smmu = SmmuV3::new(hal, features, options).map_err(iommu_core::Error::Driver)?;
//!     smmu.reset().map_err(iommu_core::Error::Driver)?;
//!
//!     let mut core = IommuCore::new(smmu, DefaultDomainKind::Dma);
//!     let nic = DeviceId(1);
//!     core.probe_device(DeviceDesc::new(nic, &[StreamId(0x100)]))?;
//!     core.dma_map(nic, Iova(0x1000), PhysAddr(0x8000_0000), 0x1000, Prot::READ | Prot::WRITE)?;
//!     // ... the NIC's DMA to IOVA 0x1000 now lands at 0x8000_0000. In the interrupt
//!     // handlers (or a poll loop):
//!     core.driver().drain_events(|event| { let _ = event; /* log it */ })
//!         .map_err(iommu_core::Error::Driver)?;
//!     core.driver().handle_gerror().map_err(iommu_core::Error::Driver)?;
//!     Ok(core)
//! }
//! ```
//!
//! [`probe`] only reads registers and asks the [`Platform`], so it runs on a toy register
//! file: here an SMMUv3.2 as a kdump kernel finds it, still enabled by the crashed kernel.
//!
//! ```
//! use smmu_regs::AddressSize;
//! use smmu_regs::regs::{Aidr, Idr0, Idr1, Idr5, StLevel, Ttf, offset};
//! use smmu_v3_driver::pgtable::Stage;
//! use smmu_v3_driver::{AdoptSource, Config, Platform, Registers, probe};
//!
//! struct LiveSmmu;
//!
//! // SAFETY: a toy register file: reads return constants and writes are ignored (`probe`
//! // writes nothing); there is no real device behind it.
//! unsafe impl Registers for LiveSmmu {
//!     fn read32(&self, offset: usize) -> u32 {
//!         match offset {
//!             offset::IDR0 => Idr0::new()
//!                 .with_s1p(true)
//!                 .with_s2p(true)
//!                 .with_ttf(Ttf::AArch64)
//!                 .with_cohacc(true)
//!                 .with_st_level(StLevel::TwoLevel)
//!                 .into(),
//!             offset::IDR1 => Idr1::new().with_sidsize(16).with_cmdqs(8).with_eventqs(7).into(),
//!             offset::IDR5 => Idr5::new().with_oas(AddressSize::Bits48).with_gran4k(true).into(),
//!             offset::AIDR => Aidr::new().with_arch_minor_rev(2).into(),
//!             offset::CR0 => 1, // SMMUEN, left set by the crashed kernel
//!             _ => 0,
//!         }
//!     }
//!     fn write32(&self, _offset: usize, _value: u32) {}
//!     fn read64(&self, _offset: usize) -> u64 { 0 }
//!     fn write64(&self, _offset: usize, _value: u64) {}
//! }
//!
//! // SAFETY: a kdump kernel with a coherent SMMU; `relax` (the default) returns.
//! unsafe impl Platform for LiveSmmu {
//!     fn is_kdump_kernel(&self) -> bool { true }
//!     fn firmware_coherent(&self) -> Option<bool> { Some(true) }
//! }
//!
//! let (features, options) = probe(&LiveSmmu, &Config::default())?;
//! assert!(features.stage1 && features.stage2 && features.two_level_strtab);
//! assert_eq!(options.paging_stage, Stage::Stage1);
//! // A live SMMU in a kdump kernel: `SmmuV3::new` will adopt its stream table instead
//! // of resetting it, and no event queue is set up.
//! assert_eq!(options.adopt, Some(AdoptSource::Kdump));
//! assert!(options.kdump);
//! # Ok::<(), smmu_v3_driver::Error>(())
//! ```
//!
//! # Queues and threads
//!
//! [`SmmuV3::submit`] issues a batch of commands closed by one `CMD_SYNC` and waits for
//! it: by the MSI-style write into the sync's own slot when the SMMU has MSIs and is
//! coherent (Linux MSIPOLL), else by polling CMDQ_CONS. It handles wrap-around and a full
//! queue (back-pressure), and repairs command errors as the spec says (an illegal command
//! is replaced by a `CMD_SYNC`, reported as a [`Diagnostic`] and returned as
//! [`Error::CommandError`]; an aborted fetch is retried). One spin lock serialises
//! producers; `submit`, [`SmmuV3::drain_events`], [`SmmuV3::drain_page_requests`] and
//! [`SmmuV3::handle_gerror`] take `&self` and may run on several CPUs. Device and domain
//! management takes `&mut self` (serialised by the OS, as `iommu-core` does).
//!
//! Every poll checks its condition at most [`Platform::poll_budget`] times, calling
//! [`Platform::relax`] in between, and ends in [`Error::Timeout`].
//!
//! # Domains
//!
//! * **Blocked**: abort STEs. **Identity**: bypass STEs.
//! * **Paging** (DMA and unmanaged), stage 1 by default when the SMMU has it: one CD table
//!   per device ([`cdtab`], linear or 2-level by its PASID width), CD 0 = the domain's CD
//!   with its own ASID ([`idalloc`]) and page table ([`pgtable`]).
//! * **Paging**, stage 2 (only S2P, or [`Config::paging_stage`], or per device with
//!   [`SmmuV3::set_paging_stage`]): a VMID and an S2 STE.
//! * Every STE and CD is rewritten with `smmu-strtab`'s hitless entry writer, whose sync
//!   hook issues `CFGI_STE` / `CFGI_CD` + `CMD_SYNC`: a device switched between identity,
//!   DMA and blocked domains under traffic never sees an invalid or mixed entry.
//! * Unmap invalidates with range TLBIs when IDR3.RIL says so (`TlbiRange::split`), per
//!   page up to [`Config::max_tlbi_pages`], else by ASID / VMID; domain free invalidates
//!   the ASID / VMID and releases it.
//!
//! # Non-coherent SMMUs
//!
//! When firmware (or IDR0.COHACC) says the SMMU does not snoop the CPU caches, CR1 selects
//! non-cacheable table and queue accesses and every write the SMMU must see is cleaned
//! through [`TableMemory::clean`]; event records are invalidated before they are read.
//!
//! # kdump: adopting the crashed kernel's stream table
//!
//! When a kdump kernel (or a planned handover, [`Config::handover`]) finds the SMMU
//! enabled, the driver adopts the live stream table in place instead of resetting it
//! (kdump.md):
//!
//! * end of [`probe`]: the adopt decision (§3) sets [`Options::adopt`] and
//!   [`Options::adoption`];
//! * [`SmmuV3::new`]: `StreamTable::adopt` (every structural rule, [`Config::adopt_strictness`]),
//!   then the ASID / VMID reservation scan (§6); any failure is undone and reported as a
//!   [`FallbackReason`] ([`Diagnostic::AdoptionFallback`], [`SmmuV3::adoption`]) and the
//!   normal path runs (§4.5);
//! * [`SmmuV3::reset`] on an adopted table keeps SMMUEN set and writes none of GBPA, CR1,
//!   CR2, STRTAB_BASE, STRTAB_BASE_CFG (§7);
//! * `probe_device` adopts L2 tables lazily; a bad one rejects only that device
//!   ([`Error::AdoptedL2Rejected`], §5);
//! * `is_attach_deferred` is true for devices with a live STE (§10), so `iommu-core`
//!   skips their default-domain attach until their driver's first DMA map (§11), which
//!   rewrites the adopted STE in place with the entry writer (§12).
//!
//! Non-coherent SMMUs adopt only with [`Config::adopt_non_coherent`] (cache maintenance:
//! invalidate before reading adopted memory, clean after writing). Every kdump boot runs
//! without event and PRI queues (§8) and allocates through the HAL (the crashkernel
//! region). RMR bypass STEs (§9) are not installed by this driver at all yet.
//!
//! # Features
//!
//! * `defmt`: `defmt::Format` for the public types.
#![no_std]

extern crate alloc;

pub mod cdtab;
pub mod idalloc;
pub mod pgtable;

mod cmdq;
mod domain;
mod error;
mod evtq;
mod hal;
mod kdump;
mod master;
mod probe;
mod ring;
mod smmu;
mod spin;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod testutil;

pub use domain::{Domain, PageTableAlloc};
pub use error::{Error, IdKind, Unsupported, Wait};
pub use evtq::Drained;
pub use hal::{Diagnostic, Hal, Platform, Registers, TableMemory};
pub use kdump::{AdoptSource, AdoptionOutcome, FallbackReason, HandoverReason, ScanFailure};
pub use probe::{Config, Features, Options, probe};
pub use smmu::{SmmuV3, StrtabSource};
