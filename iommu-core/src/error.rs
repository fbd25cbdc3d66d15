//! The crate's error type.

use crate::types::{DeviceId, DomainId, DomainKind, GroupId};

/// A fixed capacity of [`IommuCore`](crate::IommuCore), named in [`Error::CapacityFull`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum Resource {
    /// The device table (`DEVICES`).
    Devices,
    /// The group table (`GROUPS`).
    Groups,
    /// The domain table (`DOMAINS`).
    Domains,
    /// The StreamIDs stored per device (`IDS`).
    StreamIds,
}

/// Why an [`IommuCore`](crate::IommuCore) operation failed.
///
/// `E` is the driver's error type, [`IommuDriver::Error`](crate::IommuDriver::Error).
/// Whatever the error, the core's state is the one it had before the call (see the crate
/// documentation for the single, documented exception during roll-back).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum Error<E> {
    /// The device has not been probed (or has been released).
    #[error("device {0:?} is not probed")]
    UnknownDevice(DeviceId),
    /// The device has already been probed.
    #[error("device {0:?} is already probed")]
    AlreadyProbed(DeviceId),
    /// No probed device belongs to this group.
    #[error("group {0:?} does not exist")]
    UnknownGroup(GroupId),
    /// No live domain has this identifier.
    #[error("domain {0:?} does not exist")]
    UnknownDomain(DomainId),
    /// The group is not in a state that allows the operation: it has more than one device
    /// where exactly one is required, or a domain other than its default (or, when owned,
    /// blocking) domain is attached.
    #[error("group {0:?} is busy")]
    GroupBusy(GroupId),
    /// DMA ownership of the group has been claimed.
    #[error("DMA ownership of group {0:?} is claimed")]
    GroupOwned(GroupId),
    /// DMA ownership of the group has not been claimed.
    #[error("DMA ownership of group {0:?} is not claimed")]
    GroupNotOwned(GroupId),
    /// The domain is in use (attached to a group, or still programmed into a device), or it
    /// is a default or blocking domain, which only the core attaches and frees.
    #[error("domain {0:?} is in use or managed by the core")]
    DomainBusy(DomainId),
    /// The domain to detach is not the group's current, caller-attached domain.
    #[error("domain {0:?} is not attached there")]
    DomainNotAttached(DomainId),
    /// A fixed capacity is exhausted.
    #[error("capacity exhausted: {0:?}")]
    CapacityFull(Resource),
    /// The operation does not apply to domains of this kind (map on an identity or blocked
    /// domain, DMA-API map on a non-DMA domain, a caller-allocated DMA domain).
    #[error("operation not supported on a {0:?} domain")]
    UnsupportedDomainKind(DomainKind),
    /// The driver refused the call.
    #[error("IOMMU driver error")]
    Driver(#[source] E),
}
