//! The core: devices, groups, domains, ownership and deferred attach.

use core::fmt;

use heapless::Vec;

use crate::driver::IommuDriver;
use crate::error::{Error, Resource};
use crate::table::Table;
use crate::types::{
    DefaultDomainKind, DeviceDesc, DeviceId, DeviceInfo, DomainId, DomainKind, GroupId, GroupInfo,
    Iova, PhysAddr, Prot, StreamId,
};

/// What the core keeps per probed device.
struct DeviceState<const IDS: usize> {
    stream_ids: Vec<StreamId, IDS>,
    pasid_bits: Option<u8>,
    max_pasid_bits: u8,
    group: GroupId,
    /// kdump.md §11.1: cached `is_attach_deferred`, cleared by the first real attach.
    deferred: bool,
    /// The domain the driver last attached the device to (`None`: never).
    attached: Option<DomainId>,
}

impl<const IDS: usize> DeviceState<IDS> {
    fn desc(&self, id: DeviceId) -> DeviceDesc<'_> {
        DeviceDesc {
            id,
            stream_ids: &self.stream_ids,
            pasid_bits: self.pasid_bits,
        }
    }
}

/// What the core keeps per group. A group exists while at least one device belongs to it.
#[derive(Clone, Copy)]
struct GroupState {
    default_domain: DomainId,
    domain: DomainId,
    /// The blocking domain installed by a DMA-ownership claim; `Some` while owned.
    blocking_domain: Option<DomainId>,
}

/// Who allocated a domain, hence who may attach and free it.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Role {
    /// A group's default domain; freed by the core.
    Default,
    /// A group's blocking domain while DMA-owned; freed by the core.
    Blocking,
    /// Allocated by the caller with [`IommuCore::alloc_domain`]; freed by the caller.
    Caller,
}

struct DomainSlot<T> {
    kind: DomainKind,
    role: Role,
    data: T,
}

/// The domain table and the identifier counter.
struct Domains<T, const N: usize> {
    table: Table<DomainId, DomainSlot<T>, N>,
    next_id: u32,
}

impl<T, const N: usize> Domains<T, N> {
    /// Asks the driver for a domain and records it. On error nothing has changed.
    fn alloc<D: IommuDriver<Domain = T>>(
        &mut self,
        driver: &mut D,
        kind: DomainKind,
        role: Role,
        dev: DeviceDesc<'_>,
    ) -> Result<DomainId, Error<D::Error>> {
        if self.table.is_full() {
            return Err(Error::CapacityFull(Resource::Domains));
        }
        // The table is not full, so one of the next `N` + 1 identifiers is free.
        let mut candidate = self.next_id;
        let mut free = None;
        for _ in 0..=N {
            if !self.table.contains(DomainId(candidate)) {
                free = Some(DomainId(candidate));
                break;
            }
            candidate = candidate.wrapping_add(1);
        }
        let id = free.ok_or(Error::CapacityFull(Resource::Domains))?;
        let data = driver.domain_alloc(id, kind, dev).map_err(Error::Driver)?;
        match self.table.insert(id, DomainSlot { kind, role, data }) {
            Ok(()) => {
                self.next_id = id.0.wrapping_add(1);
                Ok(id)
            }
            Err(slot) => {
                // Unreachable: the table had room and `id` was free. Undo the driver call.
                driver.domain_free(slot.data);
                Err(Error::CapacityFull(Resource::Domains))
            }
        }
    }

    /// Forgets a domain and hands it back to the driver.
    fn free<D: IommuDriver<Domain = T>>(&mut self, driver: &mut D, id: DomainId) {
        if let Some(slot) = self.table.remove(id) {
            driver.domain_free(slot.data);
        }
    }

    /// Undoes [`alloc`](Self::alloc) of the newest domain, identifier counter included,
    /// so that a failed operation leaves no trace.
    fn undo_alloc<D: IommuDriver<Domain = T>>(&mut self, driver: &mut D, id: DomainId) {
        self.free(driver, id);
        if self.next_id == id.0.wrapping_add(1) {
            self.next_id = id.0;
        }
    }

    fn data_mut<E>(&mut self, id: DomainId) -> Result<&mut T, Error<E>> {
        self.table
            .get_mut(id)
            .map(|s| &mut s.data)
            .ok_or(Error::UnknownDomain(id))
    }

    fn kind(&self, id: DomainId) -> Option<DomainKind> {
        self.table.get(id).map(|s| s.kind)
    }
}

/// kdump.md §11.2, setting `target` on one device: whether the driver must attach it.
///
/// A deferred device skips its group's default domain (the hardware keeps the previous
/// kernel's configuration); any other domain is a real attach, which ends the deferral. A
/// device that is not deferred needs the driver unless it is already attached to `target`.
fn needs_attach(
    deferred: bool,
    attached: Option<DomainId>,
    target: DomainId,
    default: DomainId,
) -> bool {
    if deferred {
        target != default
    } else {
        attached != Some(target)
    }
}

/// Calls the driver to attach `dev` to `target`, lending it `old` as well.
fn attach_real<D: IommuDriver, const N: usize>(
    driver: &mut D,
    domains: &mut Domains<D::Domain, N>,
    dev: DeviceDesc<'_>,
    target: DomainId,
    old: Option<DomainId>,
) -> Result<(), Error<D::Error>> {
    match old {
        Some(old) if old == target => Ok(()),
        Some(old) => {
            let (new, old) = domains
                .table
                .get_pair_mut(target, old)
                .ok_or(Error::UnknownDomain(target))?;
            driver
                .attach_device(dev, &mut new.data, Some(&mut old.data))
                .map_err(Error::Driver)
        }
        None => {
            let new = domains
                .table
                .get_mut(target)
                .ok_or(Error::UnknownDomain(target))?;
            driver
                .attach_device(dev, &mut new.data, None)
                .map_err(Error::Driver)
        }
    }
}

/// The IOMMU core: every probed device, its group, every domain, and the rules that tie
/// them together. See the [crate documentation](crate) for the model.
///
/// Capacities are const generics: `DEVICES` probed devices, `GROUPS` groups, `DOMAINS`
/// live domains (each group's default domain, one blocking domain per DMA-owned group, and
/// the caller's domains; changing a default domain needs one spare slot), and `IDS`
/// StreamIDs per device. Exceeding one is [`Error::CapacityFull`].
pub struct IommuCore<
    D: IommuDriver,
    const DEVICES: usize = 64,
    const GROUPS: usize = 64,
    const DOMAINS: usize = 128,
    const IDS: usize = 8,
> {
    driver: D,
    default_kind: DefaultDomainKind,
    devices: Table<DeviceId, DeviceState<IDS>, DEVICES>,
    groups: Table<GroupId, GroupState, GROUPS>,
    domains: Domains<D::Domain, DOMAINS>,
}

impl<D, const DEVICES: usize, const GROUPS: usize, const DOMAINS: usize, const IDS: usize>
    fmt::Debug for IommuCore<D, DEVICES, GROUPS, DOMAINS, IDS>
where
    D: IommuDriver + fmt::Debug,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IommuCore")
            .field("driver", &self.driver)
            .field("default_kind", &self.default_kind)
            .field("devices", &self.devices.len())
            .field("groups", &self.groups.len())
            .field("domains", &self.domains.table.len())
            .finish()
    }
}

type Res<T, D> = Result<T, Error<<D as IommuDriver>::Error>>;

impl<
    D: IommuDriver,
    const DEVICES: usize,
    const GROUPS: usize,
    const DOMAINS: usize,
    const IDS: usize,
> IommuCore<D, DEVICES, GROUPS, DOMAINS, IDS>
{
    /// A core with no devices, driving `driver`. New groups get a default domain of
    /// `default_kind` (`Identity` is what Linux calls `iommu.passthrough=1`).
    #[must_use]
    pub const fn new(driver: D, default_kind: DefaultDomainKind) -> Self {
        Self {
            driver,
            default_kind,
            devices: Table::new(),
            groups: Table::new(),
            domains: Domains {
                table: Table::new(),
                next_id: 1,
            },
        }
    }

    /// The driver.
    pub fn driver(&self) -> &D {
        &self.driver
    }

    /// The driver, mutably (for driver-specific work such as fault handling). Calling the
    /// [`IommuDriver`] methods directly bypasses the core's bookkeeping.
    pub fn driver_mut(&mut self) -> &mut D {
        &mut self.driver
    }

    // ----------------------------------------------------------------------------------
    // Queries
    // ----------------------------------------------------------------------------------

    /// Whether the device's attach to its default domain is still deferred. This is the
    /// DMA layer's fast check: a binary search, no allocation.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownDevice`].
    pub fn is_attach_deferred(&self, dev: DeviceId) -> Res<bool, D> {
        self.devices
            .get(dev)
            .map(|d| d.deferred)
            .ok_or(Error::UnknownDevice(dev))
    }

    /// A snapshot of the device's state.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownDevice`].
    pub fn device(&self, dev: DeviceId) -> Res<DeviceInfo, D> {
        let d = self.devices.get(dev).ok_or(Error::UnknownDevice(dev))?;
        let g = self
            .groups
            .get(d.group)
            .ok_or(Error::UnknownGroup(d.group))?;
        Ok(DeviceInfo {
            group: d.group,
            domain: g.domain,
            attached_domain: d.attached,
            attach_deferred: d.deferred,
            max_pasid_bits: d.max_pasid_bits,
        })
    }

    /// The device's firmware description, as given to [`probe_device`](Self::probe_device).
    ///
    /// # Errors
    ///
    /// [`Error::UnknownDevice`].
    pub fn device_desc(&self, dev: DeviceId) -> Res<DeviceDesc<'_>, D> {
        self.devices
            .get(dev)
            .map(|d| d.desc(dev))
            .ok_or(Error::UnknownDevice(dev))
    }

    /// A snapshot of the group's state.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownGroup`].
    pub fn group(&self, group: GroupId) -> Res<GroupInfo, D> {
        let g = self.groups.get(group).ok_or(Error::UnknownGroup(group))?;
        Ok(GroupInfo {
            default_domain: g.default_domain,
            domain: g.domain,
            dma_owned: g.blocking_domain.is_some(),
            devices: self.group_len(group),
        })
    }

    /// The kind of a live domain.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownDomain`].
    pub fn domain_kind(&self, domain: DomainId) -> Res<DomainKind, D> {
        self.domains
            .kind(domain)
            .ok_or(Error::UnknownDomain(domain))
    }

    /// The driver's state of a live domain.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownDomain`].
    pub fn domain_data(&self, domain: DomainId) -> Res<&D::Domain, D> {
        self.domains
            .table
            .get(domain)
            .map(|s| &s.data)
            .ok_or(Error::UnknownDomain(domain))
    }

    /// The probed devices, in increasing order.
    pub fn devices(&self) -> impl Iterator<Item = DeviceId> + '_ {
        self.devices.iter().map(|(id, _)| id)
    }

    /// The groups, in increasing order.
    pub fn groups(&self) -> impl Iterator<Item = GroupId> + '_ {
        self.groups.iter().map(|(id, _)| id)
    }

    /// The live domains and their kinds, in increasing order.
    pub fn domains(&self) -> impl Iterator<Item = (DomainId, DomainKind)> + '_ {
        self.domains.table.iter().map(|(id, s)| (id, s.kind))
    }

    fn group_len(&self, group: GroupId) -> usize {
        self.devices
            .iter()
            .filter(|(_, d)| d.group == group)
            .count()
    }

    fn group_state(&self, group: GroupId) -> Res<GroupState, D> {
        self.groups
            .get(group)
            .copied()
            .ok_or(Error::UnknownGroup(group))
    }

    fn device_group(&self, dev: DeviceId) -> Res<GroupId, D> {
        self.devices
            .get(dev)
            .map(|d| d.group)
            .ok_or(Error::UnknownDevice(dev))
    }

    /// The first device of a group, in whose name the core allocates group domains.
    fn first_device(
        devices: &Table<DeviceId, DeviceState<IDS>, DEVICES>,
        group: GroupId,
    ) -> Res<DeviceDesc<'_>, D> {
        devices
            .iter()
            .find(|(_, d)| d.group == group)
            .map(|(id, d)| d.desc(id))
            .ok_or(Error::UnknownGroup(group))
    }

    // ----------------------------------------------------------------------------------
    // Probe and release
    // ----------------------------------------------------------------------------------

    /// Puts a device behind the IOMMU (kdump.md §11.1, §11.2) and returns its group.
    ///
    /// In order: the driver's [`probe_device`](IommuDriver::probe_device), its
    /// [`device_group`](IommuDriver::device_group), the PASID width, and the cached
    /// [`is_attach_deferred`](IommuDriver::is_attach_deferred) flag. Then, in a new group,
    /// a default domain is allocated and recorded as the group's default and current
    /// domain before it is set on the device; in an existing group, the group's current
    /// domain is set on the device. Setting the default domain on a deferred device does not
    /// call the driver.
    ///
    /// # Errors
    ///
    /// [`Error::AlreadyProbed`], [`Error::CapacityFull`] (devices, StreamIDs, groups,
    /// domains), [`Error::Driver`]. On error the device is released in the driver if it was
    /// probed there, and the core is unchanged.
    pub fn probe_device(&mut self, desc: DeviceDesc<'_>) -> Res<GroupId, D> {
        let id = desc.id;
        if self.devices.contains(id) {
            return Err(Error::AlreadyProbed(id));
        }
        if self.devices.is_full() {
            return Err(Error::CapacityFull(Resource::Devices));
        }
        let stream_ids = Vec::<StreamId, IDS>::from_slice(desc.stream_ids)
            .map_err(|_| Error::CapacityFull(Resource::StreamIds))?;

        self.driver.probe_device(desc).map_err(Error::Driver)?;
        let group = match self.driver.device_group(desc) {
            Ok(group) => group,
            Err(e) => {
                self.abort_probe(desc, None);
                return Err(Error::Driver(e));
            }
        };
        let max_pasid_bits = desc
            .pasid_bits
            .unwrap_or(0)
            .min(self.driver.max_pasid_bits(desc));
        let deferred = self.driver.is_attach_deferred(desc);

        let (g, new_group) = match self.groups.get(group).copied() {
            Some(g) => (g, false),
            None => {
                if self.groups.is_full() {
                    self.abort_probe(desc, None);
                    return Err(Error::CapacityFull(Resource::Groups));
                }
                let kind = self.default_kind.into();
                match self
                    .domains
                    .alloc(&mut self.driver, kind, Role::Default, desc)
                {
                    // Record the default domain before setting it on the device (§11.2).
                    Ok(domain) => (
                        GroupState {
                            default_domain: domain,
                            domain,
                            blocking_domain: None,
                        },
                        true,
                    ),
                    Err(e) => {
                        self.abort_probe(desc, None);
                        return Err(e);
                    }
                }
            }
        };

        let state = DeviceState {
            stream_ids,
            pasid_bits: desc.pasid_bits,
            max_pasid_bits,
            group,
            deferred,
            attached: None,
        };
        let created = new_group.then_some((group, g.default_domain));
        // Neither insertion can fail (room and absence were checked above); should one
        // fail anyway, undo everything rather than keep a half-probed device.
        if new_group && self.groups.insert(group, g).is_err() {
            self.domains.undo_alloc(&mut self.driver, g.default_domain);
            self.abort_probe(desc, None);
            return Err(Error::CapacityFull(Resource::Groups));
        }
        if self.devices.insert(id, state).is_err() {
            self.abort_probe(desc, created);
            return Err(Error::CapacityFull(Resource::Devices));
        }

        // Set the group's current domain on the device (§11.2).
        if needs_attach(deferred, None, g.domain, g.default_domain) {
            if let Err(e) = attach_real(&mut self.driver, &mut self.domains, desc, g.domain, None) {
                self.abort_probe(desc, created);
                return Err(e);
            }
            if let Some(d) = self.devices.get_mut(id) {
                d.deferred = false;
                d.attached = Some(g.domain);
            }
        }
        Ok(group)
    }

    /// Undoes a probe that failed after the driver's `probe_device` succeeded: forgets the
    /// device (and, if the probe created it, the group with its default domain) and
    /// releases it in the driver. The device was not attached.
    fn abort_probe(&mut self, desc: DeviceDesc<'_>, new_group: Option<(GroupId, DomainId)>) {
        self.devices.remove(desc.id);
        if let Some((group, default_domain)) = new_group {
            self.groups.remove(group);
            self.domains.undo_alloc(&mut self.driver, default_domain);
        }
        self.driver.release_device(desc, None);
    }

    /// Takes a device away from the IOMMU: the driver's
    /// [`release_device`](IommuDriver::release_device), then, if it was the last device of
    /// its group, the group and its default domain are freed.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownDevice`]; [`Error::GroupOwned`] while the group is DMA-owned and
    /// [`Error::GroupBusy`] while a caller's domain is attached (release ownership or
    /// detach first).
    pub fn release_device(&mut self, dev: DeviceId) -> Res<(), D> {
        let group = self.device_group(dev)?;
        let g = self.group_state(group)?;
        if g.blocking_domain.is_some() {
            return Err(Error::GroupOwned(group));
        }
        if g.domain != g.default_domain {
            return Err(Error::GroupBusy(group));
        }
        let state = self.devices.remove(dev).ok_or(Error::UnknownDevice(dev))?;
        let attached = state
            .attached
            .and_then(|a| self.domains.table.get_mut(a))
            .map(|s| &mut s.data);
        self.driver.release_device(state.desc(dev), attached);
        if self.group_len(group) == 0 {
            self.groups.remove(group);
            self.domains.free(&mut self.driver, g.default_domain);
        }
        Ok(())
    }

    // ----------------------------------------------------------------------------------
    // Caller domains
    // ----------------------------------------------------------------------------------

    /// Allocates a domain for the caller (for example an unmanaged paging domain for a
    /// VFIO-like user), suitable for `dev`. The caller attaches it with
    /// [`attach_device`](Self::attach_device) / [`attach_group`](Self::attach_group) and
    /// frees it with [`free_domain`](Self::free_domain).
    ///
    /// # Errors
    ///
    /// [`Error::UnknownDevice`]; [`Error::UnsupportedDomainKind`] for
    /// [`DomainKind::Dma`] (DMA domains are default domains, managed by the core);
    /// [`Error::CapacityFull`]; [`Error::Driver`].
    pub fn alloc_domain(&mut self, dev: DeviceId, kind: DomainKind) -> Res<DomainId, D> {
        let state = self.devices.get(dev).ok_or(Error::UnknownDevice(dev))?;
        if kind == DomainKind::Dma {
            return Err(Error::UnsupportedDomainKind(kind));
        }
        self.domains
            .alloc(&mut self.driver, kind, Role::Caller, state.desc(dev))
    }

    /// Frees a domain allocated with [`alloc_domain`](Self::alloc_domain).
    ///
    /// # Errors
    ///
    /// [`Error::UnknownDomain`]; [`Error::DomainBusy`] if it is attached to a group, still
    /// programmed into a device, or is a default or blocking domain.
    pub fn free_domain(&mut self, domain: DomainId) -> Res<(), D> {
        let slot = self
            .domains
            .table
            .get(domain)
            .ok_or(Error::UnknownDomain(domain))?;
        let in_use = slot.role != Role::Caller
            || self.groups.iter().any(|(_, g)| g.domain == domain)
            || self.devices.iter().any(|(_, d)| d.attached == Some(domain));
        if in_use {
            return Err(Error::DomainBusy(domain));
        }
        self.domains.free(&mut self.driver, domain);
        Ok(())
    }

    // ----------------------------------------------------------------------------------
    // Setting a group's domain
    // ----------------------------------------------------------------------------------

    /// Sets `target` on every device of `group` (see [`needs_attach`]), then records it as
    /// the group's domain. A device attached for real stops being deferred.
    ///
    /// Devices that are not deferred go first and deferred ones last, so that a failure on
    /// an ordinary device does not end the deferral of a sibling. If the driver fails on a
    /// device, the devices already switched are attached back to the group's previous
    /// domain, newest first, and the error is returned.
    fn set_group_domain(&mut self, group: GroupId, target: DomainId) -> Res<(), D> {
        let g = self.group_state(group)?;
        let mut switched: Vec<usize, DEVICES> = Vec::new();
        for deferred_pass in [false, true] {
            for index in 0..self.devices.len() {
                let Some((id, d)) = self.devices.at(index) else {
                    continue;
                };
                if d.group != group || d.deferred != deferred_pass {
                    continue;
                }
                if !needs_attach(d.deferred, d.attached, target, g.default_domain) {
                    continue;
                }
                let old = d.attached;
                let result =
                    attach_real(&mut self.driver, &mut self.domains, d.desc(id), target, old);
                match result {
                    Ok(()) => {
                        if let Some(d) = self.devices.at_mut(index) {
                            d.attached = Some(target);
                            d.deferred = false;
                        }
                        // Cannot fail: at most one entry per device.
                        let _ = switched.push(index);
                    }
                    Err(e) => {
                        self.roll_back(&switched, target, g.domain);
                        return Err(e);
                    }
                }
            }
        }
        if let Some(g) = self.groups.get_mut(group) {
            g.domain = target;
        }
        Ok(())
    }

    /// Attaches the devices at `switched` back from `from` to `to`, newest first. A device
    /// that was deferred before cannot become deferred again (the previous kernel's
    /// configuration is gone from the hardware), so it is attached to `to` for real.
    fn roll_back(&mut self, switched: &[usize], from: DomainId, to: DomainId) {
        for &index in switched.iter().rev() {
            let Some((id, d)) = self.devices.at(index) else {
                continue;
            };
            let result = attach_real(
                &mut self.driver,
                &mut self.domains,
                d.desc(id),
                to,
                Some(from),
            );
            // A driver that breaks its contract and refuses: the device stays on `from`,
            // and `attached` says so.
            if result.is_ok()
                && let Some(d) = self.devices.at_mut(index)
            {
                d.attached = Some(to);
            }
        }
    }

    /// Checks that `domain` is a caller's domain that may be attached to `group`.
    fn check_attach(&self, group: GroupId, domain: DomainId) -> Res<GroupState, D> {
        let g = self.group_state(group)?;
        let slot = self
            .domains
            .table
            .get(domain)
            .ok_or(Error::UnknownDomain(domain))?;
        if slot.role != Role::Caller {
            return Err(Error::DomainBusy(domain));
        }
        // Linux `__iommu_attach_group`: only over a core-managed domain.
        if g.domain != g.default_domain && Some(g.domain) != g.blocking_domain {
            return Err(Error::GroupBusy(group));
        }
        Ok(g)
    }

    /// The domain a group returns to when a caller's domain is detached.
    fn core_domain(g: &GroupState) -> DomainId {
        g.blocking_domain.unwrap_or(g.default_domain)
    }

    fn check_detach(&self, group: GroupId, domain: DomainId) -> Res<GroupState, D> {
        let g = self.group_state(group)?;
        if g.domain != domain || g.domain == g.default_domain || Some(g.domain) == g.blocking_domain
        {
            return Err(Error::DomainNotAttached(domain));
        }
        Ok(g)
    }

    fn check_single(&self, group: GroupId) -> Res<(), D> {
        if self.group_len(group) == 1 {
            Ok(())
        } else {
            Err(Error::GroupBusy(group))
        }
    }

    /// Attaches a caller's domain to a device (Linux `iommu_attach_device`). The device must
    /// be alone in its group, and the group must be in its default domain or, when
    /// DMA-owned, its blocking domain. The domain is not the default domain, so a deferred
    /// device is attached for real and stops being deferred (kdump.md §11.4).
    ///
    /// # Errors
    ///
    /// [`Error::UnknownDevice`], [`Error::UnknownDomain`]; [`Error::GroupBusy`] if the
    /// group has other devices or another caller domain attached; [`Error::DomainBusy`] for
    /// a default or blocking domain; [`Error::Driver`].
    pub fn attach_device(&mut self, dev: DeviceId, domain: DomainId) -> Res<(), D> {
        let group = self.device_group(dev)?;
        self.check_single(group)?;
        self.check_attach(group, domain)?;
        self.set_group_domain(group, domain)
    }

    /// Detaches a caller's domain from a device: the group goes back to its blocking domain
    /// if DMA-owned, else to its default domain. The device's deferral flag is not
    /// consulted (it was cleared by the attach).
    ///
    /// # Errors
    ///
    /// [`Error::UnknownDevice`]; [`Error::GroupBusy`] if the group has other devices;
    /// [`Error::DomainNotAttached`] if `domain` is not the caller domain attached there;
    /// [`Error::Driver`].
    pub fn detach_device(&mut self, dev: DeviceId, domain: DomainId) -> Res<(), D> {
        let group = self.device_group(dev)?;
        self.check_single(group)?;
        let g = self.check_detach(group, domain)?;
        self.set_group_domain(group, Self::core_domain(&g))
    }

    /// Attaches a caller's domain to every device of a group (Linux `iommu_attach_group`),
    /// under the same rules as [`attach_device`](Self::attach_device) except the group size.
    /// Every deferred device of the group is attached for real.
    ///
    /// # Errors
    ///
    /// As [`attach_device`](Self::attach_device), with [`Error::UnknownGroup`]. If the
    /// driver fails on one device, the devices already switched go back to the group's
    /// previous domain.
    pub fn attach_group(&mut self, group: GroupId, domain: DomainId) -> Res<(), D> {
        self.check_attach(group, domain)?;
        self.set_group_domain(group, domain)
    }

    /// Detaches a caller's domain from a group; see [`detach_device`](Self::detach_device).
    ///
    /// # Errors
    ///
    /// [`Error::UnknownGroup`], [`Error::DomainNotAttached`], [`Error::Driver`].
    pub fn detach_group(&mut self, group: GroupId, domain: DomainId) -> Res<(), D> {
        let g = self.check_detach(group, domain)?;
        self.set_group_domain(group, Self::core_domain(&g))
    }

    // ----------------------------------------------------------------------------------
    // DMA ownership and default domains
    // ----------------------------------------------------------------------------------

    /// Claims DMA ownership of a group for a user that will drive the devices itself (Linux
    /// `iommu_group_claim_dma_owner`, used by VFIO). A blocking domain is allocated and
    /// attached to every device for real, ending any deferral; the group stays blocked
    /// until the owner attaches its own domain or releases ownership.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownGroup`]; [`Error::GroupOwned`] if already claimed;
    /// [`Error::GroupBusy`] if a caller domain is attached; [`Error::CapacityFull`];
    /// [`Error::Driver`] (the group is left as it was).
    pub fn claim_dma_ownership(&mut self, group: GroupId) -> Res<(), D> {
        let g = self.group_state(group)?;
        if g.blocking_domain.is_some() {
            return Err(Error::GroupOwned(group));
        }
        if g.domain != g.default_domain {
            return Err(Error::GroupBusy(group));
        }
        let desc = Self::first_device(&self.devices, group)?;
        let blocking =
            self.domains
                .alloc(&mut self.driver, DomainKind::Blocked, Role::Blocking, desc)?;
        if let Err(e) = self.set_group_domain(group, blocking) {
            self.domains.undo_alloc(&mut self.driver, blocking);
            return Err(e);
        }
        if let Some(g) = self.groups.get_mut(group) {
            g.blocking_domain = Some(blocking);
        }
        Ok(())
    }

    /// Releases DMA ownership: the group goes back to its default domain (from the blocking
    /// domain, or from whatever caller domain the owner left attached, as Linux does), and
    /// the blocking domain is freed.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownGroup`]; [`Error::GroupNotOwned`]; [`Error::Driver`] (the group stays
    /// owned, in its current domain).
    pub fn release_dma_ownership(&mut self, group: GroupId) -> Res<(), D> {
        let g = self.group_state(group)?;
        let blocking = g.blocking_domain.ok_or(Error::GroupNotOwned(group))?;
        self.set_group_domain(group, g.default_domain)?;
        if let Some(g) = self.groups.get_mut(group) {
            g.blocking_domain = None;
        }
        self.domains.free(&mut self.driver, blocking);
        Ok(())
    }

    /// Replaces a group's default domain by a new one of `kind` (Linux's sysfs
    /// `iommu_group/type`): allocate it, attach every device to it for real (ending any
    /// deferral), then free the old one. A fresh domain is created even if `kind` is the
    /// current kind.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownGroup`]; [`Error::GroupOwned`]; [`Error::GroupBusy`] if a caller
    /// domain is attached; [`Error::CapacityFull`] (one spare domain slot is needed);
    /// [`Error::Driver`]: the new domain is freed, devices already switched go back to the
    /// old default domain, and the group keeps it.
    pub fn change_default_domain(&mut self, group: GroupId, kind: DefaultDomainKind) -> Res<(), D> {
        let g = self.group_state(group)?;
        if g.blocking_domain.is_some() {
            return Err(Error::GroupOwned(group));
        }
        if g.domain != g.default_domain {
            return Err(Error::GroupBusy(group));
        }
        let desc = Self::first_device(&self.devices, group)?;
        let new = self
            .domains
            .alloc(&mut self.driver, kind.into(), Role::Default, desc)?;
        // The group records the new domain as its default only once every device has moved:
        // until then it is "another domain", so deferred devices are attached for real
        // (kdump.md §11.4). Linux records it first, which would skip them.
        if let Err(e) = self.set_group_domain(group, new) {
            self.domains.undo_alloc(&mut self.driver, new);
            return Err(e);
        }
        if let Some(g) = self.groups.get_mut(group) {
            g.default_domain = new;
        }
        self.domains.free(&mut self.driver, g.default_domain);
        Ok(())
    }

    // ----------------------------------------------------------------------------------
    // Deferred attach and mapping
    // ----------------------------------------------------------------------------------

    /// Ends a device's deferral (kdump.md §11.3): if the device is deferred, attach it to
    /// its group's default domain for real and clear the flag; otherwise do nothing.
    ///
    /// The DMA layer calls this before the device's first DMA-API use: map, scatter-gather
    /// map, coherent or non-contiguous allocation, IOVA allocation. [`dma_map`](Self::dma_map)
    /// calls it itself. Linux takes the group lock here; in this core the caller holds the
    /// whole core mutably, which subsumes it. When the flag is clear this is a lookup and
    /// a branch.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownDevice`]; [`Error::Driver`] if the attach fails: the device stays
    /// deferred and the DMA operation must fail.
    pub fn deferred_attach(&mut self, dev: DeviceId) -> Res<(), D> {
        let d = self.devices.get(dev).ok_or(Error::UnknownDevice(dev))?;
        if !d.deferred {
            return Ok(());
        }
        // A deferred device's group is always in its default domain: any other domain
        // ends the deferral of every device of the group.
        let target = self.group_state(d.group)?.default_domain;
        attach_real(
            &mut self.driver,
            &mut self.domains,
            d.desc(dev),
            target,
            None,
        )?;
        if let Some(d) = self.devices.get_mut(dev) {
            d.deferred = false;
            d.attached = Some(target);
        }
        Ok(())
    }

    /// The device's current domain and its kind, if it is a paging domain.
    fn paging_domain(&self, dev: DeviceId) -> Res<(DomainId, DomainKind), D> {
        let group = self.device_group(dev)?;
        let domain = self.group_state(group)?.domain;
        let kind = self
            .domains
            .kind(domain)
            .ok_or(Error::UnknownDomain(domain))?;
        if kind.is_paging() {
            Ok((domain, kind))
        } else {
            Err(Error::UnsupportedDomainKind(kind))
        }
    }

    /// Maps `size` bytes at `iova` to `paddr` in the device's current domain (a DMA or
    /// unmanaged paging domain). This is a direct domain map, for example by a DMA owner:
    /// it does not end a deferral.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownDevice`]; [`Error::UnsupportedDomainKind`] for an identity or
    /// blocked domain; [`Error::Driver`].
    pub fn map(
        &mut self,
        dev: DeviceId,
        iova: Iova,
        paddr: PhysAddr,
        size: u64,
        prot: Prot,
    ) -> Res<(), D> {
        let (domain, _) = self.paging_domain(dev)?;
        let data = self.domains.data_mut(domain)?;
        self.driver
            .map(data, iova, paddr, size, prot)
            .map_err(Error::Driver)
    }

    /// Unmaps up to `size` bytes at `iova` from the device's current paging domain and
    /// returns the number of bytes unmapped.
    ///
    /// # Errors
    ///
    /// As [`map`](Self::map).
    pub fn unmap(&mut self, dev: DeviceId, iova: Iova, size: u64) -> Res<u64, D> {
        let (domain, _) = self.paging_domain(dev)?;
        let data = self.domains.data_mut(domain)?;
        self.driver.unmap(data, iova, size).map_err(Error::Driver)
    }

    /// Translates `iova` in the device's current paging domain (`None`: not mapped).
    ///
    /// # Errors
    ///
    /// [`Error::UnknownDevice`]; [`Error::UnsupportedDomainKind`] for an identity or
    /// blocked domain.
    pub fn iova_to_phys(&self, dev: DeviceId, iova: Iova) -> Res<Option<PhysAddr>, D> {
        let (domain, _) = self.paging_domain(dev)?;
        let slot = self
            .domains
            .table
            .get(domain)
            .ok_or(Error::UnknownDomain(domain))?;
        Ok(self.driver.iova_to_phys(&slot.data, iova))
    }

    /// The DMA API's map: [`deferred_attach`](Self::deferred_attach), then map in the
    /// device's DMA domain.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownDevice`]; [`Error::Driver`] if the deferred attach or the map fails
    /// (after a failed attach the device stays deferred and nothing is mapped);
    /// [`Error::UnsupportedDomainKind`] if the device's current domain is not a DMA domain
    /// (identity default domain, DMA-owned group, caller domain attached).
    pub fn dma_map(
        &mut self,
        dev: DeviceId,
        iova: Iova,
        paddr: PhysAddr,
        size: u64,
        prot: Prot,
    ) -> Res<(), D> {
        self.deferred_attach(dev)?;
        let domain = self.dma_domain(dev)?;
        let data = self.domains.data_mut(domain)?;
        self.driver
            .map(data, iova, paddr, size, prot)
            .map_err(Error::Driver)
    }

    /// The DMA API's unmap, in the device's DMA domain; returns the bytes unmapped.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownDevice`]; [`Error::UnsupportedDomainKind`] as for
    /// [`dma_map`](Self::dma_map); [`Error::Driver`].
    pub fn dma_unmap(&mut self, dev: DeviceId, iova: Iova, size: u64) -> Res<u64, D> {
        let domain = self.dma_domain(dev)?;
        let data = self.domains.data_mut(domain)?;
        self.driver.unmap(data, iova, size).map_err(Error::Driver)
    }

    fn dma_domain(&self, dev: DeviceId) -> Res<DomainId, D> {
        let (domain, kind) = self.paging_domain(dev)?;
        if kind == DomainKind::Dma {
            Ok(domain)
        } else {
            Err(Error::UnsupportedDomainKind(kind))
        }
    }
}
