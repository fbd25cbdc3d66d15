//! Identifiers, addresses, domain kinds and mapping permissions.

/// The OS's name for a device, chosen by the caller of [`IommuCore::probe_device`].
///
/// Any stable per-device number works: a PCI segment/BDF, an index into the OS's device
/// table, a device-tree phandle. The core only compares identifiers.
///
/// [`IommuCore::probe_device`]: crate::IommuCore::probe_device
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct DeviceId(pub u32);

/// An IOMMU group: the smallest set of devices the IOMMU can isolate from each other.
///
/// The driver chooses it in [`IommuDriver::device_group`]; devices that return the same
/// value share a group, and therefore a domain.
///
/// [`IommuDriver::device_group`]: crate::IommuDriver::device_group
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct GroupId(pub u32);

/// A domain (one translation context), named by the core when it is allocated.
///
/// Identifiers are handed out in increasing order starting at 1 and are not reused until
/// the 32-bit counter wraps, so a stale identifier does not silently name a new domain.
/// (An operation that fails undoes its allocation, counter included: its identifier is
/// handed out again by the next allocation.)
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct DomainId(pub u32);

/// An ID a device emits with its transactions, as firmware describes it.
///
/// A StreamID on an Arm SMMU, a requester ID on Intel VT-d or AMD-Vi, an endpoint ID on
/// virtio-iommu. The core stores them for the driver and never interprets them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct StreamId(pub u32);

/// An I/O virtual address: an address as the device emits it, before translation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Iova(pub u64);

/// A physical address: the output of translation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct PhysAddr(pub u64);

/// What a domain does with a device's DMA.
///
/// The enum is `#[non_exhaustive]`: nested (two-stage, user-managed) domains will be added
/// as a new kind without breaking users.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum DomainKind {
    /// All DMA is blocked (aborted or faulted). Used while a group is DMA-owned.
    Blocked,
    /// DMA is not translated: IOVA == physical address (bypass).
    Identity,
    /// The default paging domain, used by the kernel's DMA API. Only the core allocates
    /// domains of this kind, as a group's default domain.
    Dma,
    /// A paging domain owned by its allocator (for example a VFIO-like user), which
    /// maps and unmaps it directly.
    Unmanaged,
}

impl DomainKind {
    /// Whether domains of this kind have an I/O page table that map / unmap act on.
    #[must_use]
    pub const fn is_paging(self) -> bool {
        matches!(self, Self::Dma | Self::Unmanaged)
    }
}

/// The kinds a group's default domain may have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum DefaultDomainKind {
    /// A translating DMA domain ([`DomainKind::Dma`]), the usual default.
    Dma,
    /// Passthrough ([`DomainKind::Identity`]).
    Identity,
}

impl From<DefaultDomainKind> for DomainKind {
    fn from(kind: DefaultDomainKind) -> Self {
        match kind {
            DefaultDomainKind::Dma => Self::Dma,
            DefaultDomainKind::Identity => Self::Identity,
        }
    }
}

bitflags::bitflags! {
    /// Access permissions and attributes of a mapping.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
    pub struct Prot: u8 {
        /// The device may read through the mapping.
        const READ = 1 << 0;
        /// The device may write through the mapping.
        const WRITE = 1 << 1;
        /// The mapping is cacheable and coherent with the CPU caches.
        const CACHE = 1 << 2;
        /// The device may not execute from the mapping.
        const NOEXEC = 1 << 3;
        /// The mapping targets device memory (MMIO), not normal memory.
        const MMIO = 1 << 4;
        /// Only privileged transactions may use the mapping.
        const PRIV = 1 << 5;
    }
}

#[cfg(feature = "defmt")]
impl defmt::Format for Prot {
    fn format(&self, f: defmt::Formatter<'_>) {
        defmt::write!(f, "Prot({=u8:#x})", self.bits());
    }
}

/// How the OS describes a device to the core, and how the core describes it to the driver.
///
/// It carries what firmware (device tree `iommus`/`iommu-map`, ACPI IORT) says about the
/// device: the IDs it emits and, optionally, how many PASID (substream ID) bits it supports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub struct DeviceDesc<'a> {
    /// The device.
    pub id: DeviceId,
    /// The StreamIDs / requester IDs the device emits.
    pub stream_ids: &'a [StreamId],
    /// The device's PASID width in bits, if it supports PASIDs.
    pub pasid_bits: Option<u8>,
}

impl<'a> DeviceDesc<'a> {
    /// A device emitting `stream_ids`, without PASID support.
    #[must_use]
    pub const fn new(id: DeviceId, stream_ids: &'a [StreamId]) -> Self {
        Self {
            id,
            stream_ids,
            pasid_bits: None,
        }
    }

    /// The same device, with a PASID width of `bits`.
    #[must_use]
    pub const fn with_pasid_bits(self, bits: u8) -> Self {
        Self {
            pasid_bits: Some(bits),
            ..self
        }
    }
}

/// A snapshot of a probed device's IOMMU state, from [`IommuCore::device`].
///
/// [`IommuCore::device`]: crate::IommuCore::device
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub struct DeviceInfo {
    /// The device's group.
    pub group: GroupId,
    /// The domain the core reports for the device: its group's current domain.
    pub domain: DomainId,
    /// The domain the driver last attached the device to, `None` if the driver never did
    /// (the device is deferred, so the hardware still holds the previous kernel's setup).
    pub attached_domain: Option<DomainId>,
    /// Whether the attach to the default domain is still deferred (kdump.md §11).
    pub attach_deferred: bool,
    /// The PASID width the device may use: the smaller of firmware's and the driver's.
    pub max_pasid_bits: u8,
}

/// A snapshot of a group's state, from [`IommuCore::group`].
///
/// [`IommuCore::group`]: crate::IommuCore::group
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub struct GroupInfo {
    /// The group's default domain.
    pub default_domain: DomainId,
    /// The group's current domain.
    pub domain: DomainId,
    /// Whether DMA ownership of the group has been claimed.
    pub dma_owned: bool,
    /// How many probed devices belong to the group.
    pub devices: usize,
}
