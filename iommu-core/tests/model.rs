//! Model-based property test: random sequences of operations (with random driver
//! failures) run against the core and against a reference model written with plain `std`
//! collections straight from the rules of kdump.md §11 and the crate documentation. After
//! every operation the results and every observable state must agree, and the core must
//! agree with the recording driver's view of the hardware.
#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::*;
use iommu_core::{
    DefaultDomainKind, DeviceDesc, DeviceId, DomainId, DomainKind, Error, GroupId, IommuCore, Iova,
    PhysAddr, Prot, Resource, StreamId,
};
use proptest::prelude::*;

const MAX_DEVICES: usize = 6;
const MAX_GROUPS: usize = 3;
const MAX_DOMAINS: usize = 6;
type ModelCore = IommuCore<RecDriver, MAX_DEVICES, MAX_GROUPS, MAX_DOMAINS, 2>;

/// Devices 1..=8 (more than fit); device `d` is in group `d % 4` (more groups than fit).
fn group_of(d: u32) -> u32 {
    d % 4
}

const PAGE: u64 = 0x1000;
fn iova_of(slot: u8) -> u64 {
    u64::from(slot) * PAGE
}
fn paddr_of(slot: u8) -> u64 {
    0x10_0000 + u64::from(slot) * PAGE
}

#[derive(Debug, Clone, Copy)]
enum FailKind {
    Probe,
    Group,
    Attach,
    Alloc,
    Map,
    Unmap,
}

/// One step. `S` names devices, groups and domains: a [`Sel`] when generated, a plain
/// number once resolved against the model's current state.
#[derive(Debug, Clone)]
enum Action<S> {
    Probe(S),
    Release(S),
    Alloc(S, DomainKind),
    Free(S),
    AttachDevice(S, S),
    DetachDevice(S, S),
    AttachGroup(S, S),
    DetachGroup(S, S),
    Claim(S),
    ReleaseOwnership(S),
    ChangeDefault(S, DefaultDomainKind),
    DeferredAttach(S),
    DmaMap(S, u8),
    DmaUnmap(S, u8),
    Map(S, u8),
    Unmap(S, u8),
    Fail(FailKind, u32),
    ClearFailures,
}

/// How a generated action names a device, group or domain: mostly one that exists now
/// (so that operations get past the "unknown" checks), sometimes any number.
#[derive(Debug, Clone, Copy)]
enum Sel {
    Live(u8),
    Raw(u32),
}

fn sel(raw: std::ops::RangeInclusive<u32>) -> impl Strategy<Value = Sel> + Clone {
    prop_oneof![
        4 => any::<u8>().prop_map(Sel::Live),
        1 => raw.prop_map(Sel::Raw),
    ]
}

fn action() -> impl Strategy<Value = Action<Sel>> {
    let d = sel(1..=8);
    let g = sel(0..=3);
    let m = sel(1..=20);
    let slot = 0u8..4;
    let kind = prop_oneof![
        Just(DomainKind::Unmanaged),
        Just(DomainKind::Identity),
        Just(DomainKind::Blocked),
        Just(DomainKind::Dma),
    ];
    let default_kind = prop_oneof![
        Just(DefaultDomainKind::Dma),
        Just(DefaultDomainKind::Identity)
    ];
    let fail = prop_oneof![
        Just(FailKind::Probe),
        Just(FailKind::Group),
        Just(FailKind::Attach),
        Just(FailKind::Alloc),
        Just(FailKind::Map),
        Just(FailKind::Unmap),
    ];
    prop_oneof![
        4 => sel(1..=8).prop_map(Action::Probe),
        1 => d.clone().prop_map(Action::Release),
        2 => (d.clone(), kind).prop_map(|(d, k)| Action::Alloc(d, k)),
        1 => m.clone().prop_map(Action::Free),
        2 => (d.clone(), m.clone()).prop_map(|(d, p)| Action::AttachDevice(d, p)),
        1 => (d.clone(), m.clone()).prop_map(|(d, p)| Action::DetachDevice(d, p)),
        2 => (g.clone(), m.clone()).prop_map(|(g, p)| Action::AttachGroup(g, p)),
        2 => (g.clone(), m).prop_map(|(g, p)| Action::DetachGroup(g, p)),
        2 => g.clone().prop_map(Action::Claim),
        1 => g.clone().prop_map(Action::ReleaseOwnership),
        1 => (g, default_kind).prop_map(|(g, k)| Action::ChangeDefault(g, k)),
        1 => d.clone().prop_map(Action::DeferredAttach),
        3 => (d.clone(), slot.clone()).prop_map(|(d, s)| Action::DmaMap(d, s)),
        1 => (d.clone(), slot.clone()).prop_map(|(d, s)| Action::DmaUnmap(d, s)),
        1 => (d.clone(), slot.clone()).prop_map(|(d, s)| Action::Map(d, s)),
        1 => (d, slot).prop_map(|(d, s)| Action::Unmap(d, s)),
        2 => (fail, 1u32..=8).prop_map(|(f, d)| Action::Fail(f, d)),
        1 => Just(Action::ClearFailures),
    ]
}

/// What an operation returned, whatever its type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Out {
    Unit,
    Group(GroupId),
    Domain(DomainId),
    Size(u64),
}

type Outcome = Result<Out, CoreError>;

// ------------------------------------------------------------------------------------
// The reference model
// ------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Default,
    Blocking,
    Caller,
}

#[derive(Debug, Clone)]
struct MDevice {
    group: u32,
    deferred: bool,
    attached: Option<u32>,
}

#[derive(Debug, Clone)]
struct MGroup {
    default: u32,
    domain: u32,
    blocking: Option<u32>,
}

#[derive(Debug, Clone)]
struct MDomain {
    kind: DomainKind,
    role: Role,
    maps: BTreeMap<u64, (u64, u64)>,
}

#[derive(Debug, Default)]
struct Failures {
    probe: BTreeSet<u32>,
    group: BTreeSet<u32>,
    attach: BTreeSet<u32>,
    alloc: bool,
    map: bool,
    unmap: bool,
}

#[derive(Debug)]
struct Model {
    deferred_by_driver: BTreeSet<u32>,
    devices: BTreeMap<u32, MDevice>,
    groups: BTreeMap<u32, MGroup>,
    domains: BTreeMap<u32, MDomain>,
    next_id: u32,
    fail: Failures,
}

fn driver_err(op: Op, dev: Option<u32>) -> CoreError {
    Error::Driver(TestError {
        op,
        dev: dev.map(DeviceId),
    })
}

impl Model {
    fn new(deferred: BTreeSet<u32>) -> Self {
        Self {
            deferred_by_driver: deferred,
            devices: BTreeMap::new(),
            groups: BTreeMap::new(),
            domains: BTreeMap::new(),
            next_id: 1,
            fail: Failures::default(),
        }
    }

    fn nth(keys: Vec<u32>, i: u8, none: u32) -> u32 {
        if keys.is_empty() {
            none
        } else {
            keys[usize::from(i) % keys.len()]
        }
    }

    fn device_sel(&self, s: Sel) -> u32 {
        match s {
            // A device to probe: mostly one that is not probed yet.
            Sel::Live(i) => Self::nth(self.devices.keys().copied().collect(), i, 1),
            Sel::Raw(d) => d,
        }
    }

    fn group_sel(&self, s: Sel) -> u32 {
        match s {
            Sel::Live(i) => Self::nth(self.groups.keys().copied().collect(), i, 0),
            Sel::Raw(g) => g,
        }
    }

    /// Mostly a caller domain (the ones that can be attached), else any live domain.
    fn domain_sel(&self, s: Sel) -> u32 {
        match s {
            Sel::Live(i) => {
                let callers: Vec<u32> = self
                    .domains
                    .iter()
                    .filter(|(_, d)| d.role == Role::Caller)
                    .map(|(&id, _)| id)
                    .collect();
                if callers.is_empty() {
                    Self::nth(self.domains.keys().copied().collect(), i, 99)
                } else {
                    Self::nth(callers, i, 99)
                }
            }
            Sel::Raw(m) => m,
        }
    }

    fn resolve(&self, a: &Action<Sel>) -> Action<u32> {
        let d = |s| self.device_sel(s);
        let g = |s| self.group_sel(s);
        let m = |s| self.domain_sel(s);
        match *a {
            Action::Probe(s) => Action::Probe(match s {
                Sel::Live(i) => {
                    let free: Vec<u32> =
                        (1..=8).filter(|n| !self.devices.contains_key(n)).collect();
                    Self::nth(free, i, 1)
                }
                Sel::Raw(n) => n,
            }),
            Action::Release(s) => Action::Release(d(s)),
            Action::Alloc(s, k) => Action::Alloc(d(s), k),
            Action::Free(s) => Action::Free(m(s)),
            Action::AttachDevice(s, t) => Action::AttachDevice(d(s), m(t)),
            Action::DetachDevice(s, t) => Action::DetachDevice(d(s), m(t)),
            Action::AttachGroup(s, t) => Action::AttachGroup(g(s), m(t)),
            Action::DetachGroup(s, t) => Action::DetachGroup(g(s), m(t)),
            Action::Claim(s) => Action::Claim(g(s)),
            Action::ReleaseOwnership(s) => Action::ReleaseOwnership(g(s)),
            Action::ChangeDefault(s, k) => Action::ChangeDefault(g(s), k),
            Action::DeferredAttach(s) => Action::DeferredAttach(d(s)),
            Action::DmaMap(s, x) => Action::DmaMap(d(s), x),
            Action::DmaUnmap(s, x) => Action::DmaUnmap(d(s), x),
            Action::Map(s, x) => Action::Map(d(s), x),
            Action::Unmap(s, x) => Action::Unmap(d(s), x),
            Action::Fail(k, n) => Action::Fail(k, n),
            Action::ClearFailures => Action::ClearFailures,
        }
    }

    fn group_devices(&self, g: u32) -> Vec<u32> {
        self.devices
            .iter()
            .filter(|(_, d)| d.group == g)
            .map(|(&id, _)| id)
            .collect()
    }

    fn new_domain_id(&mut self) -> Result<u32, CoreError> {
        if self.domains.len() == MAX_DOMAINS {
            return Err(Error::CapacityFull(Resource::Domains));
        }
        Ok(self.next_id)
    }

    /// Set `target` on every device of group `g` (deferred ones skip the default domain
    /// unless `force`), normal devices first; on failure, roll back the switched devices.
    fn set_group_domain(&mut self, g: u32, target: u32, force: bool) -> Result<(), CoreError> {
        let group = self.groups[&g].clone();
        let members = self.group_devices(g);
        let order: Vec<u32> = members
            .iter()
            .filter(|d| !self.devices[d].deferred)
            .chain(members.iter().filter(|d| self.devices[d].deferred))
            .copied()
            .collect();
        let mut switched = Vec::new();
        for d in order {
            let dv = &self.devices[&d];
            if dv.deferred && !force && target == group.default {
                continue;
            }
            if !dv.deferred && dv.attached == Some(target) {
                continue;
            }
            if self.fail.attach.contains(&d) {
                for s in switched.into_iter().rev() {
                    let s: u32 = s;
                    self.devices.get_mut(&s).unwrap().attached = Some(group.domain);
                }
                return Err(driver_err(Op::Attach, Some(d)));
            }
            let dv = self.devices.get_mut(&d).unwrap();
            dv.attached = Some(target);
            dv.deferred = false;
            switched.push(d);
        }
        self.groups.get_mut(&g).unwrap().domain = target;
        Ok(())
    }

    fn probe(&mut self, d: u32) -> Outcome {
        if self.devices.contains_key(&d) {
            return Err(Error::AlreadyProbed(DeviceId(d)));
        }
        if self.devices.len() == MAX_DEVICES {
            return Err(Error::CapacityFull(Resource::Devices));
        }
        if self.fail.probe.contains(&d) {
            return Err(driver_err(Op::Probe, Some(d)));
        }
        if self.fail.group.contains(&d) {
            return Err(driver_err(Op::Group, Some(d)));
        }
        let g = group_of(d);
        let deferred = self.deferred_by_driver.contains(&d);
        if let Some(group) = self.groups.get(&g) {
            let device = if deferred && group.domain == group.default {
                MDevice {
                    group: g,
                    deferred: true,
                    attached: None,
                }
            } else if self.fail.attach.contains(&d) {
                return Err(driver_err(Op::Attach, Some(d)));
            } else {
                MDevice {
                    group: g,
                    deferred: false,
                    attached: Some(group.domain),
                }
            };
            self.devices.insert(d, device);
        } else {
            if self.groups.len() == MAX_GROUPS {
                return Err(Error::CapacityFull(Resource::Groups));
            }
            let id = self.new_domain_id()?;
            if self.fail.alloc {
                return Err(driver_err(Op::DomainAlloc, Some(d)));
            }
            if !deferred && self.fail.attach.contains(&d) {
                return Err(driver_err(Op::Attach, Some(d)));
            }
            self.next_id += 1;
            self.domains.insert(
                id,
                MDomain {
                    kind: DomainKind::Dma,
                    role: Role::Default,
                    maps: BTreeMap::new(),
                },
            );
            self.groups.insert(
                g,
                MGroup {
                    default: id,
                    domain: id,
                    blocking: None,
                },
            );
            self.devices.insert(
                d,
                MDevice {
                    group: g,
                    deferred,
                    attached: (!deferred).then_some(id),
                },
            );
        }
        Ok(Out::Group(GroupId(g)))
    }

    fn release(&mut self, d: u32) -> Outcome {
        let dv = self
            .devices
            .get(&d)
            .ok_or(Error::UnknownDevice(DeviceId(d)))?;
        let g = dv.group;
        let group = &self.groups[&g];
        if group.blocking.is_some() {
            return Err(Error::GroupOwned(GroupId(g)));
        }
        if group.domain != group.default {
            return Err(Error::GroupBusy(GroupId(g)));
        }
        let default = group.default;
        self.devices.remove(&d);
        if self.group_devices(g).is_empty() {
            self.groups.remove(&g);
            self.domains.remove(&default);
        }
        Ok(Out::Unit)
    }

    fn alloc(&mut self, d: u32, kind: DomainKind) -> Outcome {
        if !self.devices.contains_key(&d) {
            return Err(Error::UnknownDevice(DeviceId(d)));
        }
        if kind == DomainKind::Dma {
            return Err(Error::UnsupportedDomainKind(kind));
        }
        let id = self.new_domain_id()?;
        if self.fail.alloc {
            return Err(driver_err(Op::DomainAlloc, Some(d)));
        }
        self.next_id += 1;
        self.domains.insert(
            id,
            MDomain {
                kind,
                role: Role::Caller,
                maps: BTreeMap::new(),
            },
        );
        Ok(Out::Domain(DomainId(id)))
    }

    fn free(&mut self, id: u32) -> Outcome {
        let dm = self
            .domains
            .get(&id)
            .ok_or(Error::UnknownDomain(DomainId(id)))?;
        if dm.role != Role::Caller
            || self.groups.values().any(|g| g.domain == id)
            || self.devices.values().any(|d| d.attached == Some(id))
        {
            return Err(Error::DomainBusy(DomainId(id)));
        }
        self.domains.remove(&id);
        Ok(Out::Unit)
    }

    fn device_group(&self, d: u32) -> Result<u32, CoreError> {
        self.devices
            .get(&d)
            .map(|dv| dv.group)
            .ok_or(Error::UnknownDevice(DeviceId(d)))
    }

    fn single(&self, g: u32) -> Result<(), CoreError> {
        if self.group_devices(g).len() == 1 {
            Ok(())
        } else {
            Err(Error::GroupBusy(GroupId(g)))
        }
    }

    fn group(&self, g: u32) -> Result<MGroup, CoreError> {
        self.groups
            .get(&g)
            .cloned()
            .ok_or(Error::UnknownGroup(GroupId(g)))
    }

    /// A caller domain may be attached over the default or blocking domain only.
    fn check_attach(&self, g: u32, id: u32) -> Result<(), CoreError> {
        let group = self.group(g)?;
        let dm = self
            .domains
            .get(&id)
            .ok_or(Error::UnknownDomain(DomainId(id)))?;
        if dm.role != Role::Caller {
            return Err(Error::DomainBusy(DomainId(id)));
        }
        if group.domain != group.default && Some(group.domain) != group.blocking {
            return Err(Error::GroupBusy(GroupId(g)));
        }
        Ok(())
    }

    /// Only the caller domain currently attached can be detached; the group returns to its
    /// blocking domain if owned, else to its default domain.
    fn detach_target(&self, g: u32, id: u32) -> Result<u32, CoreError> {
        let group = self.group(g)?;
        if group.domain != id || id == group.default || Some(id) == group.blocking {
            return Err(Error::DomainNotAttached(DomainId(id)));
        }
        Ok(group.blocking.unwrap_or(group.default))
    }

    fn attach_device(&mut self, d: u32, id: u32) -> Outcome {
        let g = self.device_group(d)?;
        self.single(g)?;
        self.check_attach(g, id)?;
        self.set_group_domain(g, id, false).map(|()| Out::Unit)
    }

    fn detach_device(&mut self, d: u32, id: u32) -> Outcome {
        let g = self.device_group(d)?;
        self.single(g)?;
        let target = self.detach_target(g, id)?;
        self.set_group_domain(g, target, false).map(|()| Out::Unit)
    }

    fn attach_group(&mut self, g: u32, id: u32) -> Outcome {
        self.check_attach(g, id)?;
        self.set_group_domain(g, id, false).map(|()| Out::Unit)
    }

    fn detach_group(&mut self, g: u32, id: u32) -> Outcome {
        let target = self.detach_target(g, id)?;
        self.set_group_domain(g, target, false).map(|()| Out::Unit)
    }

    fn claim(&mut self, g: u32) -> Outcome {
        let group = self.group(g)?;
        if group.blocking.is_some() {
            return Err(Error::GroupOwned(GroupId(g)));
        }
        if group.domain != group.default {
            return Err(Error::GroupBusy(GroupId(g)));
        }
        let id = self.new_domain_id()?;
        if self.fail.alloc {
            return Err(driver_err(
                Op::DomainAlloc,
                self.group_devices(g).first().copied(),
            ));
        }
        self.set_group_domain(g, id, false)?;
        self.next_id += 1;
        self.domains.insert(
            id,
            MDomain {
                kind: DomainKind::Blocked,
                role: Role::Blocking,
                maps: BTreeMap::new(),
            },
        );
        self.groups.get_mut(&g).unwrap().blocking = Some(id);
        Ok(Out::Unit)
    }

    fn release_ownership(&mut self, g: u32) -> Outcome {
        let group = self.group(g)?;
        let blocking = group.blocking.ok_or(Error::GroupNotOwned(GroupId(g)))?;
        self.set_group_domain(g, group.default, false)?;
        self.groups.get_mut(&g).unwrap().blocking = None;
        self.domains.remove(&blocking);
        Ok(Out::Unit)
    }

    fn change_default(&mut self, g: u32, kind: DefaultDomainKind) -> Outcome {
        let group = self.group(g)?;
        if group.blocking.is_some() {
            return Err(Error::GroupOwned(GroupId(g)));
        }
        if group.domain != group.default {
            return Err(Error::GroupBusy(GroupId(g)));
        }
        let id = self.new_domain_id()?;
        if self.fail.alloc {
            return Err(driver_err(
                Op::DomainAlloc,
                self.group_devices(g).first().copied(),
            ));
        }
        self.set_group_domain(g, id, true)?;
        self.next_id += 1;
        self.domains.insert(
            id,
            MDomain {
                kind: kind.into(),
                role: Role::Default,
                maps: BTreeMap::new(),
            },
        );
        self.groups.get_mut(&g).unwrap().default = id;
        self.domains.remove(&group.default);
        Ok(Out::Unit)
    }

    fn deferred_attach(&mut self, d: u32) -> Outcome {
        let g = self.device_group(d)?;
        if !self.devices[&d].deferred {
            return Ok(Out::Unit);
        }
        if self.fail.attach.contains(&d) {
            return Err(driver_err(Op::Attach, Some(d)));
        }
        let default = self.groups[&g].default;
        let dv = self.devices.get_mut(&d).unwrap();
        dv.deferred = false;
        dv.attached = Some(default);
        Ok(Out::Unit)
    }

    /// The device's current domain, which must be a paging domain (and a DMA domain for
    /// the DMA API).
    fn paging(&self, d: u32, dma_api: bool) -> Result<u32, CoreError> {
        let g = self.device_group(d)?;
        let id = self.groups[&g].domain;
        let kind = self.domains[&id].kind;
        let ok = if dma_api {
            kind == DomainKind::Dma
        } else {
            kind == DomainKind::Dma || kind == DomainKind::Unmanaged
        };
        if ok {
            Ok(id)
        } else {
            Err(Error::UnsupportedDomainKind(kind))
        }
    }

    fn map(&mut self, d: u32, slot: u8, dma_api: bool) -> Outcome {
        if dma_api {
            self.deferred_attach(d)?;
        }
        let id = self.paging(d, dma_api)?;
        if self.fail.map {
            return Err(driver_err(Op::Map, None));
        }
        self.domains
            .get_mut(&id)
            .unwrap()
            .maps
            .insert(iova_of(slot), (paddr_of(slot), PAGE));
        Ok(Out::Unit)
    }

    fn unmap(&mut self, d: u32, slot: u8, dma_api: bool) -> Outcome {
        let id = self.paging(d, dma_api)?;
        if self.fail.unmap {
            return Err(driver_err(Op::Unmap, None));
        }
        let maps = &mut self.domains.get_mut(&id).unwrap().maps;
        Ok(Out::Size(if maps.remove(&iova_of(slot)).is_some() {
            PAGE
        } else {
            0
        }))
    }

    fn apply(&mut self, action: &Action<u32>) -> Option<Outcome> {
        Some(match *action {
            Action::Probe(d) => self.probe(d),
            Action::Release(d) => self.release(d),
            Action::Alloc(d, k) => self.alloc(d, k),
            Action::Free(m) => self.free(m),
            Action::AttachDevice(d, m) => self.attach_device(d, m),
            Action::DetachDevice(d, m) => self.detach_device(d, m),
            Action::AttachGroup(g, m) => self.attach_group(g, m),
            Action::DetachGroup(g, m) => self.detach_group(g, m),
            Action::Claim(g) => self.claim(g),
            Action::ReleaseOwnership(g) => self.release_ownership(g),
            Action::ChangeDefault(g, k) => self.change_default(g, k),
            Action::DeferredAttach(d) => self.deferred_attach(d),
            Action::DmaMap(d, s) => self.map(d, s, true),
            Action::DmaUnmap(d, s) => self.unmap(d, s, true),
            Action::Map(d, s) => self.map(d, s, false),
            Action::Unmap(d, s) => self.unmap(d, s, false),
            Action::Fail(kind, d) => {
                match kind {
                    FailKind::Probe => self.fail.probe.insert(d),
                    FailKind::Group => self.fail.group.insert(d),
                    FailKind::Attach => self.fail.attach.insert(d),
                    FailKind::Alloc => std::mem::replace(&mut self.fail.alloc, true),
                    FailKind::Map => std::mem::replace(&mut self.fail.map, true),
                    FailKind::Unmap => std::mem::replace(&mut self.fail.unmap, true),
                };
                return None;
            }
            Action::ClearFailures => {
                self.fail = Failures::default();
                return None;
            }
        })
    }
}

// ------------------------------------------------------------------------------------
// The system under test
// ------------------------------------------------------------------------------------

fn unit<E>(r: Result<(), E>) -> Result<Out, E> {
    r.map(|()| Out::Unit)
}

fn run(core: &mut ModelCore, action: &Action<u32>) -> Option<Outcome> {
    let rw = Prot::READ | Prot::WRITE;
    Some(match *action {
        Action::Probe(d) => core
            .probe_device(DeviceDesc::new(DeviceId(d), &[StreamId(d)]))
            .map(Out::Group),
        Action::Release(d) => unit(core.release_device(DeviceId(d))),
        Action::Alloc(d, k) => core.alloc_domain(DeviceId(d), k).map(Out::Domain),
        Action::Free(m) => unit(core.free_domain(DomainId(m))),
        Action::AttachDevice(d, m) => unit(core.attach_device(DeviceId(d), DomainId(m))),
        Action::DetachDevice(d, m) => unit(core.detach_device(DeviceId(d), DomainId(m))),
        Action::AttachGroup(g, m) => unit(core.attach_group(GroupId(g), DomainId(m))),
        Action::DetachGroup(g, m) => unit(core.detach_group(GroupId(g), DomainId(m))),
        Action::Claim(g) => unit(core.claim_dma_ownership(GroupId(g))),
        Action::ReleaseOwnership(g) => unit(core.release_dma_ownership(GroupId(g))),
        Action::ChangeDefault(g, k) => unit(core.change_default_domain(GroupId(g), k)),
        Action::DeferredAttach(d) => unit(core.deferred_attach(DeviceId(d))),
        Action::DmaMap(d, s) => unit(core.dma_map(
            DeviceId(d),
            Iova(iova_of(s)),
            PhysAddr(paddr_of(s)),
            PAGE,
            rw,
        )),
        Action::DmaUnmap(d, s) => core
            .dma_unmap(DeviceId(d), Iova(iova_of(s)), PAGE)
            .map(Out::Size),
        Action::Map(d, s) => unit(core.map(
            DeviceId(d),
            Iova(iova_of(s)),
            PhysAddr(paddr_of(s)),
            PAGE,
            rw,
        )),
        Action::Unmap(d, s) => core
            .unmap(DeviceId(d), Iova(iova_of(s)), PAGE)
            .map(Out::Size),
        Action::Fail(kind, d) => {
            let driver = core.driver_mut();
            match kind {
                FailKind::Probe => driver.fail_dev(Op::Probe, d),
                FailKind::Group => driver.fail_dev(Op::Group, d),
                FailKind::Attach => driver.fail_dev(Op::Attach, d),
                FailKind::Alloc => driver.fail(Op::DomainAlloc),
                FailKind::Map => driver.fail(Op::Map),
                FailKind::Unmap => driver.fail(Op::Unmap),
            }
            return None;
        }
        Action::ClearFailures => {
            core.driver_mut().clear_failures();
            return None;
        }
    })
}

/// Every observable state of the core equals the model's.
fn assert_same(core: &ModelCore, model: &Model, step: usize) {
    let devices: Vec<_> = core
        .devices()
        .map(|d| {
            let i = core.device(d).unwrap();
            (
                d.0,
                i.group.0,
                i.domain.0,
                i.attached_domain.map(|a| a.0),
                i.attach_deferred,
                i.max_pasid_bits,
            )
        })
        .collect();
    let expected: Vec<_> = model
        .devices
        .iter()
        .map(|(&d, dv)| {
            (
                d,
                dv.group,
                model.groups[&dv.group].domain,
                dv.attached,
                dv.deferred,
                0,
            )
        })
        .collect();
    assert_eq!(devices, expected, "devices after step {step}");

    let groups: Vec<_> = core
        .groups()
        .map(|g| {
            let i = core.group(g).unwrap();
            (g.0, i.default_domain.0, i.domain.0, i.dma_owned, i.devices)
        })
        .collect();
    let expected: Vec<_> = model
        .groups
        .iter()
        .map(|(&g, mg)| {
            (
                g,
                mg.default,
                mg.domain,
                mg.blocking.is_some(),
                model.group_devices(g).len(),
            )
        })
        .collect();
    assert_eq!(groups, expected, "groups after step {step}");

    let domains: Vec<_> = core
        .domains()
        .map(|(id, kind)| (id.0, kind, core.domain_data(id).unwrap().maps.clone()))
        .collect();
    let expected: Vec<_> = model
        .domains
        .iter()
        .map(|(&id, dm)| (id, dm.kind, dm.maps.clone()))
        .collect();
    assert_eq!(domains, expected, "domains after step {step}");

    for d in 0..=9 {
        let want = model
            .devices
            .get(&d)
            .map(|dv| dv.deferred)
            .ok_or(Error::UnknownDevice(DeviceId(d)));
        assert_eq!(core.is_attach_deferred(DeviceId(d)), want, "flag of {d}");
    }
    assert_consistent(core);
}

fn check(deferred: BTreeSet<u32>, actions: &[Action<u32>]) {
    let (mut core, mut model) = start(deferred);
    for (step, action) in actions.iter().enumerate() {
        step_both(&mut core, &mut model, action, step);
    }
}

fn start(deferred: BTreeSet<u32>) -> (ModelCore, Model) {
    let mut driver = RecDriver::default();
    driver.deferred = deferred.iter().map(|&d| DeviceId(d)).collect();
    driver.groups = (1..=8)
        .map(|d| (DeviceId(d), GroupId(group_of(d))))
        .collect();
    (
        IommuCore::new(driver, DefaultDomainKind::Dma),
        Model::new(deferred),
    )
}

fn step_both(core: &mut ModelCore, model: &mut Model, action: &Action<u32>, step: usize) {
    let got = run(core, action);
    let want = model.apply(action);
    assert_eq!(got, want, "result of step {step}: {action:?}");
    assert_same(core, model, step);
}

/// Steps per generated sequence. Miri runs each step about 10 000 times slower, so it gets
/// shorter sequences (and 4 cases instead of 256).
const MAX_STEPS: usize = if cfg!(miri) { 16 } else { 80 };

proptest! {
    #![proptest_config(ProptestConfig {
        cases: if cfg!(miri) { 4 } else { 256 },
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn core_agrees_with_the_reference_model(
        deferred in proptest::collection::btree_set(1u32..=8, 0..=8),
        actions in proptest::collection::vec(action(), 1..MAX_STEPS),
    ) {
        let (mut core, mut model) = start(deferred);
        for (step, action) in actions.iter().enumerate() {
            let action = model.resolve(action);
            step_both(&mut core, &mut model, &action, step);
        }
    }
}

/// A fixed sequence through the interesting paths, so the model itself is exercised even
/// when proptest runs few cases (Miri).
#[test]
fn model_walkthrough() {
    use Action::*;
    let actions: [Action<u32>; 33] = [
        Probe(1),
        Probe(5),
        Probe(2),
        DmaMap(5, 1),
        Fail(FailKind::Attach, 1),
        DmaMap(1, 2),
        ClearFailures,
        Claim(1),
        Alloc(1, DomainKind::Unmanaged),
        AttachDevice(2, 4),
        AttachGroup(1, 4),
        Map(1, 3),
        Free(4),
        DetachGroup(1, 4),
        ReleaseOwnership(1),
        Fail(FailKind::Attach, 5),
        ChangeDefault(1, DefaultDomainKind::Identity),
        ClearFailures,
        ChangeDefault(1, DefaultDomainKind::Identity),
        Probe(3),
        Probe(4),
        Probe(6),
        Probe(7),
        Probe(8),
        Alloc(2, DomainKind::Blocked),
        Alloc(2, DomainKind::Identity),
        Alloc(2, DomainKind::Identity),
        Free(0),
        Free(4),
        Release(1),
        Release(5),
        DeferredAttach(2),
        DmaUnmap(2, 1),
    ];
    check([1, 2, 5].into_iter().collect(), &actions);
}
