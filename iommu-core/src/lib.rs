//! `iommu-core`: the policy layer an OS uses to put devices behind an IOMMU.
//!
//! It decides *which* translation each device gets and *when*: devices, the groups the
//! IOMMU can isolate, each group's default domain, caller-owned domains, DMA ownership
//! (VFIO-like users), and the deferred-attach rules that keep a crashed kernel's in-flight
//! DMA alive across a kdump handover. It is the Rust analogue of Linux's iommu core
//! (`drivers/iommu/iommu.c`), small enough for a `no_std` kernel: no allocation, fixed
//! capacities, no `unsafe`.
//!
//! # Where it sits
//!
//! ```text
//!   OS device model / DMA API ──► iommu-core (this crate: policy)
//!                                      │  IommuDriver trait
//!                                      ▼
//!                  smmu-v3-driver, or a VT-d / virtio-iommu driver (hardware)
//! ```
//!
//! The OS calls [`IommuCore`]; the core calls an [`IommuDriver`], which touches the
//! hardware. The SMMUv3 driver of this project (`smmu-v3-driver`) implements the trait,
//! but the core knows nothing about SMMUv3 and could drive VT-d or virtio-iommu just as
//! well.
//!
//! # Example
//!
//! A toy driver whose devices with a StreamID of `0x100` or more still carry live DMA from
//! a crashed kernel:
//!
//! ```
//! use iommu_core::{
//!     DefaultDomainKind, DeviceDesc, DeviceId, DomainId, DomainKind, GroupId, IommuCore,
//!     IommuDriver, Iova, PhysAddr, Prot, StreamId,
//! };
//!
//! #[derive(Debug)]
//! struct ToyError;
//! impl core::fmt::Display for ToyError {
//!     fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
//!         f.write_str("toy IOMMU error")
//!     }
//! }
//! impl core::error::Error for ToyError {}
//!
//! #[derive(Default)]
//! struct ToyIommu {
//!     attaches: u32,
//! }
//!
//! /// A paging domain: a list of (iova, paddr, size).
//! struct ToyDomain(Vec<(u64, u64, u64)>);
//!
//! impl IommuDriver for ToyIommu {
//!     type Error = ToyError;
//!     type Domain = ToyDomain;
//!
//!     fn probe_device(&mut self, _dev: DeviceDesc<'_>) -> Result<(), ToyError> {
//!         Ok(())
//!     }
//!     fn release_device(&mut self, _dev: DeviceDesc<'_>, _attached: Option<&mut ToyDomain>) {}
//!     fn device_group(&mut self, dev: DeviceDesc<'_>) -> Result<GroupId, ToyError> {
//!         Ok(GroupId(dev.id.0)) // every device is isolated
//!     }
//!     fn is_attach_deferred(&self, dev: DeviceDesc<'_>) -> bool {
//!         dev.stream_ids.iter().any(|sid| sid.0 >= 0x100)
//!     }
//!     fn domain_alloc(
//!         &mut self,
//!         _id: DomainId,
//!         _kind: DomainKind,
//!         _dev: DeviceDesc<'_>,
//!     ) -> Result<ToyDomain, ToyError> {
//!         Ok(ToyDomain(Vec::new()))
//!     }
//!     fn domain_free(&mut self, _domain: ToyDomain) {}
//!     fn attach_device(
//!         &mut self,
//!         _dev: DeviceDesc<'_>,
//!         _domain: &mut ToyDomain,
//!         _old: Option<&mut ToyDomain>,
//!     ) -> Result<(), ToyError> {
//!         self.attaches += 1; // a real driver rewrites the device's table entries here
//!         Ok(())
//!     }
//!     fn map(
//!         &mut self,
//!         domain: &mut ToyDomain,
//!         iova: Iova,
//!         paddr: PhysAddr,
//!         size: u64,
//!         _prot: Prot,
//!     ) -> Result<(), ToyError> {
//!         domain.0.push((iova.0, paddr.0, size));
//!         Ok(())
//!     }
//!     fn unmap(&mut self, domain: &mut ToyDomain, iova: Iova, size: u64) -> Result<u64, ToyError> {
//!         let before = domain.0.len();
//!         domain.0.retain(|&(start, _, _)| start != iova.0);
//!         Ok(if domain.0.len() < before { size } else { 0 })
//!     }
//!     fn iova_to_phys(&self, domain: &ToyDomain, iova: Iova) -> Option<PhysAddr> {
//!         domain.0.iter().find_map(|&(start, paddr, size)| {
//!             let offset = iova.0.checked_sub(start)?;
//!             (offset < size).then_some(PhysAddr(paddr + offset))
//!         })
//!     }
//! }
//!
//! // Up to 8 devices, 8 groups, 16 domains, 2 StreamIDs per device.
//! let mut iommu: IommuCore<ToyIommu, 8, 8, 16, 2> =
//!     IommuCore::new(ToyIommu::default(), DefaultDomainKind::Dma);
//!
//! let nic = DeviceId(1);
//! let group = iommu.probe_device(DeviceDesc::new(nic, &[StreamId(0x100)]))?;
//! // In a kdump kernel the NIC keeps the crashed kernel's translation...
//! assert!(iommu.is_attach_deferred(nic)?);
//! assert_eq!(iommu.driver().attaches, 0);
//! // ...although the core already reports the group's default domain.
//! assert_eq!(iommu.device(nic)?.domain, iommu.group(group)?.default_domain);
//!
//! // Its new driver's first DMA map attaches it for real.
//! iommu.dma_map(nic, Iova(0x1000), PhysAddr(0x8000_0000), 0x1000, Prot::READ | Prot::WRITE)?;
//! assert!(!iommu.is_attach_deferred(nic)?);
//! assert_eq!(iommu.driver().attaches, 1);
//! assert_eq!(iommu.iova_to_phys(nic, Iova(0x1234))?, Some(PhysAddr(0x8000_0234)));
//! # Ok::<(), iommu_core::Error<ToyError>>(())
//! ```
//!
//! # Model
//!
//! * A **device** ([`DeviceId`], chosen by the OS) is probed with its firmware description
//!   ([`DeviceDesc`]: StreamIDs, PASID width) and belongs to one **group** ([`GroupId`],
//!   chosen by the driver). All devices of a group share one current **domain**
//!   ([`DomainId`], chosen by the core).
//! * Each group has a **default domain** ([`DomainKind::Dma`] or
//!   [`DomainKind::Identity`]), allocated when its first device is probed and freed with
//!   its last device. [`IommuCore::change_default_domain`] replaces it.
//! * The caller may allocate **unmanaged** (or identity / blocked) domains and attach them
//!   to a single-device group or a whole group, then detach them.
//! * A user that drives devices itself **claims DMA ownership** of a group: the group sits
//!   in a blocking domain until the owner attaches its own domain, and goes back to the
//!   default domain when ownership is released.
//! * Map / unmap / translate go through a device's current domain and only apply to paging
//!   domains (DMA and unmanaged). [`IommuCore::dma_map`] is the DMA API's entry point: it
//!   performs the deferred attach first; [`IommuCore::map`] does not.
//!
//! # Deferred attach (kdump.md §11)
//!
//! * Right after the driver's probe, group choice and PASID query, the core caches the
//!   driver's [`is_attach_deferred`](IommuDriver::is_attach_deferred) for the device.
//! * Setting the group's **default** domain on a deferred device succeeds **without
//!   calling the driver**; the group still records the default domain as its current
//!   domain, and the device reports it.
//! * Setting **any other** domain (a caller's domain, the blocking domain of an ownership
//!   claim, a new default domain after a type change) clears the flag and attaches for
//!   real.
//! * [`IommuCore::deferred_attach`], called on the first DMA map or allocation, attaches
//!   a deferred device to its default domain for real and clears the flag; if the driver
//!   fails, the flag stays set and the DMA call fails.
//! * Detach does not look at the flag.
//! * A real attach that the driver refuses leaves the device deferred: the driver's
//!   contract is that a failed attach leaves the hardware as it was, so the previous
//!   kernel's configuration is still live.
//!
//! In a normal boot the driver never reports a device as deferred, so
//! [`IommuCore::deferred_attach`] is a lookup and a branch; no "kdump only" switch is
//! needed.
//!
//! # Locking
//!
//! The core is a plain data structure: every operation that changes state takes
//! `&mut self`, and the caller wraps the core in its kernel's lock (an IRQ-safe spinlock,
//! a sleeping mutex: the kernel knows which it needs). Linux takes a per-group mutex in
//! `iommu_deferred_attach`; here the caller's lock on the whole core subsumes every group
//! lock, so a deferred attach can never race an attach, an ownership claim or a release of
//! the same group. The price is that operations on different groups (map / unmap
//! included) serialise on that lock. A lock abstraction inside the core was rejected: it
//! would impose one lock type on every kernel and make the state machine harder to test
//! (the tests here run single-threaded, under Miri too).
//!
//! # Failures and roll-back
//!
//! Every fallible operation either succeeds or leaves the core as it was, and undoes what
//! it asked of the driver (a probed device is released, a fresh domain freed). When a
//! group-wide change (attach group, ownership claim or release, default-domain change)
//! fails on one device, the devices already switched are attached back to the group's
//! previous domain, newest first, as Linux does. Devices that are not deferred are switched
//! first and deferred devices last, so a failure on an ordinary device never costs a
//! sibling its deferral. The one thing that cannot be undone: a deferred device switched
//! before a later device failed has had the previous kernel's configuration overwritten,
//! so it is attached back to the default domain for real and stays non-deferred. (A driver
//! that breaks its contract and refuses a roll-back attach leaves that device on the new
//! domain; [`DeviceInfo::attached_domain`] then says so, and that domain cannot be freed.)
//!
//! # Differences from Linux
//!
//! Where kdump.md §11 or the "state as before" rule asks for it, the core is stricter than
//! Linux's `iommu.c`:
//!
//! * a failed attach of a deferred device keeps the deferral (Linux clears the flag first
//!   and its unwind then attaches the default domain for real);
//! * a default-domain change records the new domain as the default only after every device
//!   has moved to it, so deferred devices are attached for real (kdump.md §11.4; Linux
//!   records it first, which would skip them);
//! * releasing a device is refused while its group is DMA-owned or attached to a caller
//!   domain, instead of warning and carrying on;
//! * DMA ownership is claimed per group, without owner tokens or per-device sharing.
//!
//! # Capacities
//!
//! [`IommuCore`] takes its capacities as const generics (devices, groups, domains,
//! StreamIDs per device) and keeps everything in fixed-size tables sorted by identifier
//! (binary-search lookups). Running out is [`Error::CapacityFull`], never a panic.
//!
//! # Features
//!
//! * `defmt`: `defmt::Format` for the public types.
#![no_std]
#![forbid(unsafe_code)]

#[cfg(test)]
extern crate std;

mod driver;
mod error;
mod iommu;
mod table;
mod types;

pub use crate::driver::IommuDriver;
pub use crate::error::{Error, Resource};
pub use crate::iommu::IommuCore;
pub use crate::types::{
    DefaultDomainKind, DeviceDesc, DeviceId, DeviceInfo, DomainId, DomainKind, GroupId, GroupInfo,
    Iova, PhysAddr, Prot, StreamId,
};
