//! A recording IOMMU driver for the tests, and helpers.
//!
//! The driver records every call in order, can be told to fail the Nth call of an
//! operation, every call of an operation, or the calls for one device, and keeps its own
//! view of the "hardware" (which domain each device's table entry points at) so that the
//! tests can check the core against it. It panics when the core breaks the driver
//! contract (attach with the wrong `old` domain, free of a domain still in use…).
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::vec::Vec;

use iommu_core::{
    DefaultDomainKind, DeviceDesc, DeviceId, DeviceInfo, DomainId, DomainKind, Error, GroupId,
    GroupInfo, IommuCore, IommuDriver, Iova, PhysAddr, Prot, StreamId,
};

/// The core type used by the tests: 8 devices, 8 groups, 12 domains, 4 StreamIDs each.
pub type Core = IommuCore<RecDriver, 8, 8, 12, 4>;

/// The fallible driver operations, for failure injection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Probe,
    Group,
    DomainAlloc,
    Attach,
    Map,
    Unmap,
}

/// One driver call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Call {
    Probe(DeviceId),
    Release {
        dev: DeviceId,
        attached: Option<DomainId>,
    },
    Group(DeviceId),
    MaxPasid(DeviceId),
    IsDeferred(DeviceId),
    DomainAlloc {
        id: DomainId,
        kind: DomainKind,
        dev: DeviceId,
    },
    DomainFree(DomainId),
    Attach {
        dev: DeviceId,
        domain: DomainId,
        old: Option<DomainId>,
    },
    Map {
        domain: DomainId,
        iova: u64,
        paddr: u64,
        size: u64,
    },
    Unmap {
        domain: DomainId,
        iova: u64,
        size: u64,
    },
    IovaToPhys {
        domain: DomainId,
        iova: u64,
    },
}

/// A call that succeeded (or cannot fail).
pub fn ok(call: Call) -> (Call, bool) {
    (call, true)
}

/// A call that the driver failed.
pub fn err(call: Call) -> (Call, bool) {
    (call, false)
}

/// The test driver's error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("injected failure of {op:?} for {dev:?}")]
pub struct TestError {
    pub op: Op,
    pub dev: Option<DeviceId>,
}

/// Which calls to fail.
#[derive(Debug, Clone)]
pub struct FailRule {
    pub op: Op,
    /// Only calls for this device (`None`: any).
    pub dev: Option<DeviceId>,
    /// Only the Nth matching call, counting from 1 (`None`: every matching call).
    pub nth: Option<usize>,
    seen: usize,
}

/// The driver's per-domain state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestDomain {
    pub id: DomainId,
    pub kind: DomainKind,
    pub maps: Mappings,
    /// Devices whose table entries point at this domain.
    pub devices: BTreeSet<DeviceId>,
}

#[derive(Debug, Default)]
pub struct RecDriver {
    log: RefCell<Vec<(Call, bool)>>,
    pub rules: Vec<FailRule>,
    /// Answer of `device_group` (default: one group per device, same number).
    pub groups: BTreeMap<DeviceId, GroupId>,
    /// Devices for which `is_attach_deferred` answers true.
    pub deferred: BTreeSet<DeviceId>,
    pub max_pasid_bits: u8,
    /// Devices probed in the driver.
    pub probed: BTreeSet<DeviceId>,
    /// What each device's table entry points at. Absent: never attached by this kernel.
    pub hw: BTreeMap<DeviceId, DomainId>,
    /// Live domains.
    pub live: BTreeMap<DomainId, DomainKind>,
}

impl RecDriver {
    /// Fails every call of `op`.
    pub fn fail(&mut self, op: Op) {
        self.rules.push(FailRule {
            op,
            dev: None,
            nth: None,
            seen: 0,
        });
    }

    /// Fails every call of `op` for `dev`.
    pub fn fail_dev(&mut self, op: Op, dev: u32) {
        self.rules.push(FailRule {
            op,
            dev: Some(DeviceId(dev)),
            nth: None,
            seen: 0,
        });
    }

    /// Fails the `nth` call of `op` from now on (counting from 1).
    pub fn fail_nth(&mut self, op: Op, nth: usize) {
        self.rules.push(FailRule {
            op,
            dev: None,
            nth: Some(nth),
            seen: 0,
        });
    }

    pub fn clear_failures(&mut self) {
        self.rules.clear();
    }

    /// Returns and clears the call log.
    pub fn take_log(&self) -> Vec<(Call, bool)> {
        self.log.take()
    }

    pub fn log(&self) -> Vec<(Call, bool)> {
        self.log.borrow().clone()
    }

    fn record(&self, call: Call, ok: bool) {
        self.log.borrow_mut().push((call, ok));
    }

    fn should_fail(&mut self, op: Op, dev: Option<DeviceId>) -> Option<TestError> {
        let mut fail = false;
        for rule in &mut self.rules {
            if rule.op != op || (rule.dev.is_some() && rule.dev != dev) {
                continue;
            }
            rule.seen += 1;
            if rule.nth.is_none_or(|n| n == rule.seen) {
                fail = true;
            }
        }
        fail.then_some(TestError { op, dev })
    }

    fn check(&mut self, op: Op, dev: Option<DeviceId>, call: Call) -> Result<(), TestError> {
        match self.should_fail(op, dev) {
            Some(e) => {
                self.record(call, false);
                Err(e)
            }
            None => {
                self.record(call, true);
                Ok(())
            }
        }
    }
}

impl IommuDriver for RecDriver {
    type Error = TestError;
    type Domain = TestDomain;

    fn probe_device(&mut self, dev: DeviceDesc<'_>) -> Result<(), TestError> {
        assert!(
            !self.probed.contains(&dev.id),
            "double probe of {:?}",
            dev.id
        );
        self.check(Op::Probe, Some(dev.id), Call::Probe(dev.id))?;
        self.probed.insert(dev.id);
        Ok(())
    }

    fn release_device(&mut self, dev: DeviceDesc<'_>, attached: Option<&mut TestDomain>) {
        self.record(
            Call::Release {
                dev: dev.id,
                attached: attached.as_ref().map(|d| d.id),
            },
            true,
        );
        assert!(
            self.probed.remove(&dev.id),
            "release of unprobed {:?}",
            dev.id
        );
        assert_eq!(
            self.hw.remove(&dev.id),
            attached.as_ref().map(|d| d.id),
            "release: core and driver disagree on the attached domain of {:?}",
            dev.id
        );
        if let Some(d) = attached {
            assert!(d.devices.remove(&dev.id));
        }
    }

    fn device_group(&mut self, dev: DeviceDesc<'_>) -> Result<GroupId, TestError> {
        assert!(self.probed.contains(&dev.id));
        self.check(Op::Group, Some(dev.id), Call::Group(dev.id))?;
        Ok(self
            .groups
            .get(&dev.id)
            .copied()
            .unwrap_or(GroupId(dev.id.0)))
    }

    fn max_pasid_bits(&self, dev: DeviceDesc<'_>) -> u8 {
        self.record(Call::MaxPasid(dev.id), true);
        self.max_pasid_bits
    }

    fn is_attach_deferred(&self, dev: DeviceDesc<'_>) -> bool {
        self.record(Call::IsDeferred(dev.id), true);
        self.deferred.contains(&dev.id)
    }

    fn domain_alloc(
        &mut self,
        id: DomainId,
        kind: DomainKind,
        dev: DeviceDesc<'_>,
    ) -> Result<TestDomain, TestError> {
        assert!(self.probed.contains(&dev.id));
        assert!(
            !self.live.contains_key(&id),
            "domain id {id:?} reused while live"
        );
        self.check(
            Op::DomainAlloc,
            Some(dev.id),
            Call::DomainAlloc {
                id,
                kind,
                dev: dev.id,
            },
        )?;
        self.live.insert(id, kind);
        Ok(TestDomain {
            id,
            kind,
            maps: BTreeMap::new(),
            devices: BTreeSet::new(),
        })
    }

    fn domain_free(&mut self, domain: TestDomain) {
        self.record(Call::DomainFree(domain.id), true);
        assert!(
            domain.devices.is_empty(),
            "domain {:?} freed while devices {:?} use it",
            domain.id,
            domain.devices
        );
        assert_eq!(self.live.remove(&domain.id), Some(domain.kind));
    }

    fn attach_device(
        &mut self,
        dev: DeviceDesc<'_>,
        domain: &mut TestDomain,
        old: Option<&mut TestDomain>,
    ) -> Result<(), TestError> {
        assert!(self.probed.contains(&dev.id));
        assert_eq!(
            self.hw.get(&dev.id).copied(),
            old.as_ref().map(|d| d.id),
            "attach: core passed the wrong old domain for {:?}",
            dev.id
        );
        assert!(self.live.contains_key(&domain.id));
        self.check(
            Op::Attach,
            Some(dev.id),
            Call::Attach {
                dev: dev.id,
                domain: domain.id,
                old: old.as_ref().map(|d| d.id),
            },
        )?;
        if let Some(old) = old {
            assert!(old.devices.remove(&dev.id));
        }
        domain.devices.insert(dev.id);
        self.hw.insert(dev.id, domain.id);
        Ok(())
    }

    fn map(
        &mut self,
        domain: &mut TestDomain,
        iova: Iova,
        paddr: PhysAddr,
        size: u64,
        _prot: Prot,
    ) -> Result<(), TestError> {
        assert!(domain.kind == DomainKind::Dma || domain.kind == DomainKind::Unmanaged);
        self.check(
            Op::Map,
            None,
            Call::Map {
                domain: domain.id,
                iova: iova.0,
                paddr: paddr.0,
                size,
            },
        )?;
        domain.maps.insert(iova.0, (paddr.0, size));
        Ok(())
    }

    fn unmap(&mut self, domain: &mut TestDomain, iova: Iova, size: u64) -> Result<u64, TestError> {
        self.check(
            Op::Unmap,
            None,
            Call::Unmap {
                domain: domain.id,
                iova: iova.0,
                size,
            },
        )?;
        Ok(match domain.maps.get(&iova.0) {
            Some(&(_, s)) if s == size => {
                domain.maps.remove(&iova.0);
                size
            }
            _ => 0,
        })
    }

    fn iova_to_phys(&self, domain: &TestDomain, iova: Iova) -> Option<PhysAddr> {
        self.record(
            Call::IovaToPhys {
                domain: domain.id,
                iova: iova.0,
            },
            true,
        );
        domain.maps.iter().find_map(|(&start, &(paddr, size))| {
            let off = iova.0.checked_sub(start)?;
            (off < size).then_some(PhysAddr(paddr + off))
        })
    }
}

pub type CoreError = Error<TestError>;

pub const fn dev(n: u32) -> DeviceId {
    DeviceId(n)
}

pub const fn dom(n: u32) -> DomainId {
    DomainId(n)
}

pub const fn grp(n: u32) -> GroupId {
    GroupId(n)
}

/// A core with the DMA default kind, with devices `deferred` reported as deferred and
/// devices placed in groups by `groups` (device, group).
pub fn core_with(deferred: &[u32], groups: &[(u32, u32)]) -> Core {
    let mut driver = RecDriver {
        max_pasid_bits: 20,
        ..RecDriver::default()
    };
    driver.deferred = deferred.iter().map(|&d| DeviceId(d)).collect();
    driver.groups = groups
        .iter()
        .map(|&(d, g)| (DeviceId(d), GroupId(g)))
        .collect();
    IommuCore::new(driver, DefaultDomainKind::Dma)
}

/// Probes device `n` with StreamID `n`.
pub fn probe<const D: usize, const G: usize, const M: usize, const I: usize>(
    core: &mut IommuCore<RecDriver, D, G, M, I>,
    n: u32,
) -> Result<GroupId, CoreError> {
    core.probe_device(DeviceDesc::new(DeviceId(n), &[StreamId(n)]))
}

/// The probe-time calls for a device, up to the deferral query.
pub fn probe_calls(n: u32) -> Vec<(Call, bool)> {
    vec![
        ok(Call::Probe(dev(n))),
        ok(Call::Group(dev(n))),
        ok(Call::MaxPasid(dev(n))),
        ok(Call::IsDeferred(dev(n))),
    ]
}

pub fn attach(d: u32, domain: u32, old: Option<u32>) -> Call {
    Call::Attach {
        dev: dev(d),
        domain: dom(domain),
        old: old.map(dom),
    }
}

pub fn alloc(id: u32, kind: DomainKind, d: u32) -> Call {
    Call::DomainAlloc {
        id: dom(id),
        kind,
        dev: dev(d),
    }
}

/// A domain's mappings: iova -> (paddr, size).
pub type Mappings = BTreeMap<u64, (u64, u64)>;

/// Everything observable about the core and the driver's hardware view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    pub devices: Vec<(DeviceId, DeviceInfo)>,
    pub groups: Vec<(GroupId, GroupInfo)>,
    pub domains: Vec<(DomainId, DomainKind, Mappings)>,
    pub probed: BTreeSet<DeviceId>,
    pub hw: BTreeMap<DeviceId, DomainId>,
    pub live: BTreeMap<DomainId, DomainKind>,
}

pub fn snapshot<const D: usize, const G: usize, const M: usize, const I: usize>(
    core: &IommuCore<RecDriver, D, G, M, I>,
) -> Snapshot {
    let driver = core.driver();
    Snapshot {
        devices: core
            .devices()
            .map(|d| (d, core.device(d).unwrap()))
            .collect(),
        groups: core.groups().map(|g| (g, core.group(g).unwrap())).collect(),
        domains: core
            .domains()
            .map(|(id, kind)| (id, kind, core.domain_data(id).unwrap().maps.clone()))
            .collect(),
        probed: driver.probed.clone(),
        hw: driver.hw.clone(),
        live: driver.live.clone(),
    }
}

/// Checks the invariants that tie the core to the driver's hardware view.
pub fn assert_consistent<const D: usize, const G: usize, const M: usize, const I: usize>(
    core: &IommuCore<RecDriver, D, G, M, I>,
) {
    let s = snapshot(core);
    let core_devices: BTreeSet<_> = s.devices.iter().map(|(d, _)| *d).collect();
    assert_eq!(
        core_devices, s.probed,
        "core devices vs driver-probed devices"
    );
    let core_domains: BTreeMap<_, _> = s.domains.iter().map(|(id, k, _)| (*id, *k)).collect();
    assert_eq!(core_domains, s.live, "core domains vs driver-live domains");
    for (d, info) in &s.devices {
        assert_eq!(
            info.attached_domain,
            s.hw.get(d).copied(),
            "attached domain of {d:?}"
        );
        let g = core.group(info.group).unwrap();
        assert_eq!(info.domain, g.domain);
        if info.attach_deferred {
            assert_eq!(
                g.domain, g.default_domain,
                "deferred {d:?} outside default domain"
            );
            assert_eq!(info.attached_domain, None);
        } else {
            assert_eq!(
                info.attached_domain,
                Some(g.domain),
                "{d:?} not on its group domain"
            );
        }
    }
    for (g, info) in &s.groups {
        assert!(info.devices > 0, "empty group {g:?}");
        assert_eq!(
            s.devices.iter().filter(|(_, i)| i.group == *g).count(),
            info.devices
        );
    }
}
