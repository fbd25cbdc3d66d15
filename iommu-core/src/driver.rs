//! The trait an IOMMU driver implements for the core.

use crate::types::{DeviceDesc, DomainId, DomainKind, GroupId, Iova, PhysAddr, Prot};

/// An IOMMU driver, as the core sees it: the analogue of Linux's `struct iommu_ops`.
///
/// The core owns the policy (groups, default domains, DMA ownership, deferred attach) and
/// calls these methods to touch the hardware. It stores each domain's driver state
/// ([`Self::Domain`]) in its own fixed-size table and lends it back to the driver in
/// [`attach_device`](Self::attach_device), [`map`](Self::map) and friends, so the driver
/// needs no table of its own.
///
/// # Contract
///
/// * A method that returns `Err` must leave the hardware and the driver's state as they
///   were before the call. The core relies on this to undo an operation half-way.
/// * Re-attaching a device to the domain it was attached to just before must succeed: the
///   core does it to roll back a group-wide change that failed on another device.
/// * The core calls [`is_attach_deferred`](Self::is_attach_deferred) once per device, right
///   after [`probe_device`](Self::probe_device), [`device_group`](Self::device_group) and
///   [`max_pasid_bits`](Self::max_pasid_bits), and caches the answer.
pub trait IommuDriver {
    /// The driver's error, wrapped in [`Error::Driver`](crate::Error::Driver).
    type Error: core::error::Error + 'static;

    /// The driver's per-domain state (page-table root, ASID/VMID, attached devices…).
    type Domain;

    /// Prepares the IOMMU for `dev` (for an SMMU: insert the master, set up or adopt the
    /// stream-table entries of its StreamIDs). Nothing is attached yet.
    ///
    /// # Errors
    ///
    /// The driver cannot handle the device; the core then forgets it.
    fn probe_device(&mut self, dev: DeviceDesc<'_>) -> Result<(), Self::Error>;

    /// Undoes [`probe_device`](Self::probe_device). The device must stop using `attached`,
    /// the domain the driver last attached it to (`None` if it never attached it: the
    /// device is still deferred, or the call undoes a failed probe).
    fn release_device(&mut self, dev: DeviceDesc<'_>, attached: Option<&mut Self::Domain>);

    /// Chooses the group of a freshly probed device. Devices the IOMMU cannot isolate from
    /// each other (shared StreamIDs, PCI aliases, no ACS) must get the same group.
    ///
    /// # Errors
    ///
    /// The group cannot be determined; the core then releases the device.
    fn device_group(&mut self, dev: DeviceDesc<'_>) -> Result<GroupId, Self::Error>;

    /// The widest PASID the IOMMU supports for `dev`, in bits. The core stores the smaller
    /// of this and the firmware's width. The default is 0 (no PASID support).
    fn max_pasid_bits(&self, dev: DeviceDesc<'_>) -> u8 {
        let _ = dev;
        0
    }

    /// Whether attaching `dev` to its default domain must wait for its first DMA-API use,
    /// because the hardware still carries live DMA set up by a previous (crashed) kernel
    /// (kdump.md §10). The default is `false`.
    fn is_attach_deferred(&self, dev: DeviceDesc<'_>) -> bool {
        let _ = dev;
        false
    }

    /// Allocates a domain of `kind` suitable for `dev`. `id` is the name the core gives the
    /// domain if the allocation succeeds.
    ///
    /// # Errors
    ///
    /// The driver does not support `kind`, or is out of resources.
    fn domain_alloc(
        &mut self,
        id: DomainId,
        kind: DomainKind,
        dev: DeviceDesc<'_>,
    ) -> Result<Self::Domain, Self::Error>;

    /// Frees a domain. No device is attached to it any more.
    fn domain_free(&mut self, domain: Self::Domain);

    /// Attaches `dev` to `domain` for real (for an SMMU: rewrite its STEs and invalidate).
    /// `old` is the domain the driver last attached the device to, `None` if it never did
    /// (first attach, or end of a deferred attach: the hardware holds the previous
    /// kernel's configuration).
    ///
    /// # Errors
    ///
    /// The attach failed; the device must still be attached to `old` (or, if `None`, be
    /// left exactly as it was).
    fn attach_device(
        &mut self,
        dev: DeviceDesc<'_>,
        domain: &mut Self::Domain,
        old: Option<&mut Self::Domain>,
    ) -> Result<(), Self::Error>;

    /// Maps `size` bytes at `iova` to `paddr` in a paging domain.
    ///
    /// # Errors
    ///
    /// Misaligned or overlapping range, or no memory for page tables. Nothing is mapped.
    fn map(
        &mut self,
        domain: &mut Self::Domain,
        iova: Iova,
        paddr: PhysAddr,
        size: u64,
        prot: Prot,
    ) -> Result<(), Self::Error>;

    /// Unmaps up to `size` bytes at `iova` in a paging domain and returns how many bytes
    /// were unmapped (invalidating the IOTLB before returning).
    ///
    /// # Errors
    ///
    /// The range cannot be unmapped (for example it splits a block mapping the driver
    /// cannot split). Nothing is unmapped.
    fn unmap(
        &mut self,
        domain: &mut Self::Domain,
        iova: Iova,
        size: u64,
    ) -> Result<u64, Self::Error>;

    /// Translates `iova` in a paging domain, `None` if it is not mapped.
    fn iova_to_phys(&self, domain: &Self::Domain, iova: Iova) -> Option<PhysAddr>;
}
