//! Caller domains, attach / detach, DMA ownership, default-domain changes, map routing,
//! and roll-back of group-wide changes that fail half-way.

mod common;

use common::*;
use iommu_core::{DefaultDomainKind, DomainKind, Error, Iova, PhysAddr, Prot};

const RW: Prot = Prot::READ.union(Prot::WRITE);

/// Three devices in group 1 (`deferred` among them), plus a caller domain (id 2).
fn group_of_three(deferred: &[u32]) -> Core {
    let mut core = core_with(deferred, &[(1, 1), (2, 1), (3, 1)]);
    for n in 1..=3 {
        probe(&mut core, n).unwrap();
    }
    assert_eq!(core.alloc_domain(dev(1), DomainKind::Unmanaged), Ok(dom(2)));
    core.driver().take_log();
    core
}

#[test]
fn caller_cannot_allocate_dma_domains() {
    let mut core = core_with(&[], &[]);
    probe(&mut core, 1).unwrap();
    core.driver().take_log();
    assert_eq!(
        core.alloc_domain(dev(1), DomainKind::Dma),
        Err(Error::UnsupportedDomainKind(DomainKind::Dma))
    );
    assert_eq!(core.driver().take_log(), []);
    for kind in [
        DomainKind::Unmanaged,
        DomainKind::Identity,
        DomainKind::Blocked,
    ] {
        let id = core.alloc_domain(dev(1), kind).unwrap();
        assert_eq!(core.domain_kind(id), Ok(kind));
    }
}

#[test]
fn failed_domain_allocation_changes_nothing() {
    let mut core = core_with(&[], &[]);
    probe(&mut core, 1).unwrap();
    core.driver().take_log();
    let before = snapshot(&core);
    core.driver_mut().fail(Op::DomainAlloc);
    assert!(matches!(
        core.alloc_domain(dev(1), DomainKind::Unmanaged),
        Err(Error::Driver(_))
    ));
    assert_eq!(
        core.driver().take_log(),
        [err(alloc(2, DomainKind::Unmanaged, 1))]
    );
    assert_eq!(snapshot(&core), before);
}

#[test]
fn attach_device_requires_a_single_device_group() {
    let mut core = group_of_three(&[]);
    let before = snapshot(&core);
    assert_eq!(
        core.attach_device(dev(1), dom(2)),
        Err(Error::GroupBusy(grp(1)))
    );
    assert_eq!(
        core.detach_device(dev(1), dom(2)),
        Err(Error::GroupBusy(grp(1)))
    );
    assert_eq!(core.driver().take_log(), []);
    assert_eq!(snapshot(&core), before);
}

#[test]
fn attach_and_detach_preconditions() {
    let mut core = core_with(&[], &[]);
    probe(&mut core, 1).unwrap();
    let u = core.alloc_domain(dev(1), DomainKind::Unmanaged).unwrap();
    let v = core.alloc_domain(dev(1), DomainKind::Unmanaged).unwrap();
    core.driver().take_log();

    // Not attached yet: nothing to detach; the default domain is not a caller domain.
    assert_eq!(
        core.detach_device(dev(1), u),
        Err(Error::DomainNotAttached(u))
    );
    assert_eq!(
        core.detach_device(dev(1), dom(1)),
        Err(Error::DomainNotAttached(dom(1)))
    );
    // Core-managed domains cannot be attached explicitly.
    assert_eq!(
        core.attach_device(dev(1), dom(1)),
        Err(Error::DomainBusy(dom(1)))
    );

    core.attach_device(dev(1), u).unwrap();
    assert_eq!(core.driver().take_log(), [ok(attach(1, u.0, Some(1)))]);
    // Another caller domain over a caller domain: busy (Linux -EBUSY), even the same one.
    assert_eq!(core.attach_device(dev(1), v), Err(Error::GroupBusy(grp(1))));
    assert_eq!(core.attach_device(dev(1), u), Err(Error::GroupBusy(grp(1))));
    assert_eq!(
        core.detach_device(dev(1), v),
        Err(Error::DomainNotAttached(v))
    );
    assert_eq!(core.free_domain(u), Err(Error::DomainBusy(u)));
    assert_eq!(core.free_domain(dom(1)), Err(Error::DomainBusy(dom(1))));
    assert_eq!(
        core.change_default_domain(grp(1), DefaultDomainKind::Dma),
        Err(Error::GroupBusy(grp(1)))
    );
    assert_eq!(
        core.claim_dma_ownership(grp(1)),
        Err(Error::GroupBusy(grp(1)))
    );
    assert_eq!(core.driver().take_log(), []);

    core.detach_device(dev(1), u).unwrap();
    assert_eq!(core.driver().take_log(), [ok(attach(1, 1, Some(u.0)))]);
    assert_eq!(core.free_domain(u), Ok(()));
    assert_eq!(core.driver().take_log(), [ok(Call::DomainFree(u))]);
    assert_eq!(core.free_domain(u), Err(Error::UnknownDomain(u)));
    assert_consistent(&core);
}

#[test]
fn attach_group_switches_every_device_and_detach_group_returns_them() {
    let mut core = group_of_three(&[]);
    core.attach_group(grp(1), dom(2)).unwrap();
    assert_eq!(
        core.driver().take_log(),
        [
            ok(attach(1, 2, Some(1))),
            ok(attach(2, 2, Some(1))),
            ok(attach(3, 2, Some(1))),
        ]
    );
    assert_eq!(core.group(grp(1)).unwrap().domain, dom(2));
    assert_consistent(&core);
    core.detach_group(grp(1), dom(2)).unwrap();
    assert_eq!(
        core.driver().take_log(),
        [
            ok(attach(1, 1, Some(2))),
            ok(attach(2, 1, Some(2))),
            ok(attach(3, 1, Some(2))),
        ]
    );
    assert_eq!(core.group(grp(1)).unwrap().domain, dom(1));
    assert_consistent(&core);
}

/// Partial failure: devices already switched are attached back to the previous domain,
/// newest first, and the core is exactly as before.
#[test]
fn attach_group_failure_on_the_third_device_rolls_back_the_first_two() {
    let mut core = group_of_three(&[]);
    let before = snapshot(&core);
    core.driver_mut().fail_dev(Op::Attach, 3);
    assert_eq!(
        core.attach_group(grp(1), dom(2)),
        Err(Error::Driver(TestError {
            op: Op::Attach,
            dev: Some(dev(3))
        }))
    );
    assert_eq!(
        core.driver().take_log(),
        [
            ok(attach(1, 2, Some(1))),
            ok(attach(2, 2, Some(1))),
            err(attach(3, 2, Some(1))),
            ok(attach(2, 1, Some(2))),
            ok(attach(1, 1, Some(2))),
        ]
    );
    assert_eq!(snapshot(&core), before);
    assert_consistent(&core);
}

/// Normal devices go first, so a failure on one of them leaves a deferred sibling deferred
/// and untouched.
#[test]
fn attach_group_failure_on_a_normal_device_keeps_the_sibling_deferred() {
    let mut core = group_of_three(&[2]);
    let before = snapshot(&core);
    core.driver_mut().fail_dev(Op::Attach, 3);
    assert!(core.attach_group(grp(1), dom(2)).is_err());
    assert_eq!(
        core.driver().take_log(),
        [
            ok(attach(1, 2, Some(1))),
            err(attach(3, 2, Some(1))),
            ok(attach(1, 1, Some(2))),
        ]
    );
    assert_eq!(snapshot(&core), before);
    assert_eq!(core.is_attach_deferred(dev(2)), Ok(true));
}

/// The documented exception: a deferred device switched before a later device failed has
/// lost the previous kernel's configuration, so the roll-back attaches it to the default
/// domain for real and it stays non-deferred. The device that failed keeps its deferral.
#[test]
fn roll_back_cannot_restore_a_deferral_whose_hardware_state_was_overwritten() {
    let mut core = group_of_three(&[2, 3]);
    core.driver_mut().fail_dev(Op::Attach, 3);
    assert!(core.attach_group(grp(1), dom(2)).is_err());
    assert_eq!(
        core.driver().take_log(),
        [
            ok(attach(1, 2, Some(1))),
            ok(attach(2, 2, None)),
            err(attach(3, 2, None)),
            ok(attach(2, 1, Some(2))),
            ok(attach(1, 1, Some(2))),
        ]
    );
    assert_eq!(core.group(grp(1)).unwrap().domain, dom(1));
    assert_eq!(core.is_attach_deferred(dev(2)), Ok(false));
    assert_eq!(core.device(dev(2)).unwrap().attached_domain, Some(dom(1)));
    assert_eq!(core.is_attach_deferred(dev(3)), Ok(true));
    assert_consistent(&core);
}

#[test]
fn ownership_rules() {
    let mut core = core_with(&[], &[]);
    probe(&mut core, 1).unwrap();
    let u = core.alloc_domain(dev(1), DomainKind::Unmanaged).unwrap();
    assert_eq!(
        core.release_dma_ownership(grp(1)),
        Err(Error::GroupNotOwned(grp(1)))
    );
    core.driver().take_log();

    core.claim_dma_ownership(grp(1)).unwrap();
    assert_eq!(
        core.driver().take_log(),
        [
            ok(alloc(3, DomainKind::Blocked, 1)),
            ok(attach(1, 3, Some(1)))
        ]
    );
    let g = core.group(grp(1)).unwrap();
    assert!(g.dma_owned);
    assert_eq!(g.domain, dom(3));
    assert_eq!(
        core.claim_dma_ownership(grp(1)),
        Err(Error::GroupOwned(grp(1)))
    );
    assert_eq!(
        core.change_default_domain(grp(1), DefaultDomainKind::Identity),
        Err(Error::GroupOwned(grp(1)))
    );
    assert_eq!(core.free_domain(dom(3)), Err(Error::DomainBusy(dom(3))));
    assert_eq!(
        core.attach_device(dev(1), dom(3)),
        Err(Error::DomainBusy(dom(3)))
    );
    assert_eq!(
        core.detach_device(dev(1), dom(3)),
        Err(Error::DomainNotAttached(dom(3)))
    );
    // Blocked: no DMA API, no map.
    assert_eq!(
        core.dma_map(dev(1), Iova(0), PhysAddr(0), 0x1000, RW),
        Err(Error::UnsupportedDomainKind(DomainKind::Blocked))
    );
    assert_eq!(core.driver().take_log(), []);

    // The owner attaches its own domain over the blocking domain and maps it directly.
    core.attach_device(dev(1), u).unwrap();
    assert_eq!(core.driver().take_log(), [ok(attach(1, 2, Some(3)))]);
    core.map(dev(1), Iova(0x4000), PhysAddr(0x9000), 0x1000, RW)
        .unwrap();
    assert_eq!(
        core.dma_map(dev(1), Iova(0), PhysAddr(0), 0x1000, RW),
        Err(Error::UnsupportedDomainKind(DomainKind::Unmanaged))
    );
    assert_eq!(
        core.iova_to_phys(dev(1), Iova(0x4800)),
        Ok(Some(PhysAddr(0x9800)))
    );
    core.driver().take_log();

    // Detach while owned goes back to the blocking domain.
    core.detach_device(dev(1), u).unwrap();
    assert_eq!(core.driver().take_log(), [ok(attach(1, 3, Some(2)))]);
    assert_eq!(core.group(grp(1)).unwrap().domain, dom(3));

    // Release straight from a caller domain goes to the default domain (as Linux does).
    core.attach_device(dev(1), u).unwrap();
    core.driver().take_log();
    core.release_dma_ownership(grp(1)).unwrap();
    assert_eq!(
        core.driver().take_log(),
        [ok(attach(1, 1, Some(2))), ok(Call::DomainFree(dom(3)))]
    );
    let g = core.group(grp(1)).unwrap();
    assert!(!g.dma_owned);
    assert_eq!(g.domain, dom(1));
    assert_consistent(&core);
}

#[test]
fn failed_ownership_claim_rolls_back_and_frees_the_blocking_domain() {
    let mut core = group_of_three(&[]);
    let before = snapshot(&core);
    core.driver_mut().fail_nth(Op::Attach, 2);
    assert!(core.claim_dma_ownership(grp(1)).is_err());
    assert_eq!(
        core.driver().take_log(),
        [
            ok(alloc(3, DomainKind::Blocked, 1)),
            ok(attach(1, 3, Some(1))),
            err(attach(2, 3, Some(1))),
            ok(attach(1, 1, Some(3))),
            ok(Call::DomainFree(dom(3))),
        ]
    );
    assert_eq!(snapshot(&core), before);

    // Allocation failure: nothing else happens.
    core.driver_mut().clear_failures();
    core.driver_mut().fail(Op::DomainAlloc);
    assert!(core.claim_dma_ownership(grp(1)).is_err());
    assert_eq!(
        core.driver().take_log(),
        [err(alloc(3, DomainKind::Blocked, 1))]
    );
    assert_eq!(snapshot(&core), before);
}

#[test]
fn failed_ownership_release_keeps_the_group_owned() {
    let mut core = group_of_three(&[]);
    core.claim_dma_ownership(grp(1)).unwrap();
    core.driver().take_log();
    let before = snapshot(&core);
    core.driver_mut().fail_dev(Op::Attach, 2);
    assert!(core.release_dma_ownership(grp(1)).is_err());
    assert_eq!(
        core.driver().take_log(),
        [
            ok(attach(1, 1, Some(3))),
            err(attach(2, 1, Some(3))),
            ok(attach(1, 3, Some(1))),
        ]
    );
    assert_eq!(snapshot(&core), before);
    assert!(core.group(grp(1)).unwrap().dma_owned);
}

#[test]
fn failed_default_domain_change_restores_the_old_default() {
    let mut core = group_of_three(&[]);
    let before = snapshot(&core);
    core.driver_mut().fail_dev(Op::Attach, 2);
    assert!(
        core.change_default_domain(grp(1), DefaultDomainKind::Identity)
            .is_err()
    );
    assert_eq!(
        core.driver().take_log(),
        [
            ok(alloc(3, DomainKind::Identity, 1)),
            ok(attach(1, 3, Some(1))),
            err(attach(2, 3, Some(1))),
            ok(attach(1, 1, Some(3))),
            ok(Call::DomainFree(dom(3))),
        ]
    );
    assert_eq!(snapshot(&core), before);

    core.driver_mut().clear_failures();
    core.driver_mut().fail(Op::DomainAlloc);
    assert!(
        core.change_default_domain(grp(1), DefaultDomainKind::Identity)
            .is_err()
    );
    assert_eq!(
        core.driver().take_log(),
        [err(alloc(3, DomainKind::Identity, 1))]
    );
    assert_eq!(snapshot(&core), before);

    // And it works once the driver does.
    core.driver_mut().clear_failures();
    core.change_default_domain(grp(1), DefaultDomainKind::Identity)
        .unwrap();
    let g = core.group(grp(1)).unwrap();
    assert_eq!((g.default_domain, g.domain), (dom(3), dom(3)));
    assert_eq!(core.domain_kind(dom(1)), Err(Error::UnknownDomain(dom(1))));
    assert_consistent(&core);
}

#[test]
fn failed_detach_stays_attached() {
    let mut core = core_with(&[], &[]);
    probe(&mut core, 1).unwrap();
    let u = core.alloc_domain(dev(1), DomainKind::Unmanaged).unwrap();
    core.attach_device(dev(1), u).unwrap();
    core.driver().take_log();
    let before = snapshot(&core);
    core.driver_mut().fail(Op::Attach);
    assert!(core.detach_device(dev(1), u).is_err());
    assert_eq!(core.driver().take_log(), [err(attach(1, 1, Some(2)))]);
    assert_eq!(snapshot(&core), before);
}

#[test]
fn map_goes_through_the_current_paging_domain_only() {
    let mut core = core_with(&[], &[]);
    probe(&mut core, 1).unwrap();
    let ident = core.alloc_domain(dev(1), DomainKind::Identity).unwrap();
    let blocked = core.alloc_domain(dev(1), DomainKind::Blocked).unwrap();
    let unmanaged = core.alloc_domain(dev(1), DomainKind::Unmanaged).unwrap();
    core.driver().take_log();

    // Default DMA domain.
    core.dma_map(dev(1), Iova(0x1000), PhysAddr(0xa000), 0x1000, RW)
        .unwrap();
    assert_eq!(
        core.driver().take_log(),
        [ok(Call::Map {
            domain: dom(1),
            iova: 0x1000,
            paddr: 0xa000,
            size: 0x1000
        })]
    );

    for (d, kind) in [
        (ident, DomainKind::Identity),
        (blocked, DomainKind::Blocked),
    ] {
        core.attach_device(dev(1), d).unwrap();
        let e = Error::UnsupportedDomainKind(kind);
        assert_eq!(core.map(dev(1), Iova(0), PhysAddr(0), 0x1000, RW), Err(e));
        assert_eq!(core.unmap(dev(1), Iova(0), 0x1000), Err(e));
        assert_eq!(core.iova_to_phys(dev(1), Iova(0)), Err(e));
        assert_eq!(
            core.dma_map(dev(1), Iova(0), PhysAddr(0), 0x1000, RW),
            Err(e)
        );
        assert_eq!(core.dma_unmap(dev(1), Iova(0), 0x1000), Err(e));
        core.detach_device(dev(1), d).unwrap();
    }
    core.driver().take_log();

    core.attach_device(dev(1), unmanaged).unwrap();
    core.map(dev(1), Iova(0x1000), PhysAddr(0xb000), 0x1000, RW)
        .unwrap();
    assert_eq!(
        core.iova_to_phys(dev(1), Iova(0x1004)),
        Ok(Some(PhysAddr(0xb004)))
    );
    assert_eq!(core.unmap(dev(1), Iova(0x1000), 0x1000), Ok(0x1000));
    assert_eq!(core.iova_to_phys(dev(1), Iova(0x1004)), Ok(None));
    assert_eq!(
        core.driver().take_log()[1..3],
        [
            ok(Call::Map {
                domain: unmanaged,
                iova: 0x1000,
                paddr: 0xb000,
                size: 0x1000
            }),
            ok(Call::IovaToPhys {
                domain: unmanaged,
                iova: 0x1004
            }),
        ]
    );
    // The DMA domain kept its own mapping.
    core.detach_device(dev(1), unmanaged).unwrap();
    assert_eq!(
        core.iova_to_phys(dev(1), Iova(0x1004)),
        Ok(Some(PhysAddr(0xa004)))
    );
}

#[test]
fn failed_map_and_unmap_change_nothing() {
    let mut core = core_with(&[], &[]);
    probe(&mut core, 1).unwrap();
    core.dma_map(dev(1), Iova(0x1000), PhysAddr(0xa000), 0x1000, RW)
        .unwrap();
    let before = snapshot(&core);
    core.driver_mut().fail(Op::Map);
    core.driver_mut().fail(Op::Unmap);
    assert!(
        core.map(dev(1), Iova(0x2000), PhysAddr(0xb000), 0x1000, RW)
            .is_err()
    );
    assert!(
        core.dma_map(dev(1), Iova(0x2000), PhysAddr(0xb000), 0x1000, RW)
            .is_err()
    );
    assert!(core.unmap(dev(1), Iova(0x1000), 0x1000).is_err());
    assert!(core.dma_unmap(dev(1), Iova(0x1000), 0x1000).is_err());
    assert_eq!(snapshot(&core), before);
}

#[test]
fn free_domain_refuses_core_domains_and_domains_in_use() {
    let mut core = core_with(&[], &[]);
    probe(&mut core, 1).unwrap();
    probe(&mut core, 2).unwrap();
    let u = core.alloc_domain(dev(1), DomainKind::Unmanaged).unwrap();
    // A caller domain may be attached to several groups (a shared VFIO-like container).
    core.attach_device(dev(1), u).unwrap();
    core.attach_device(dev(2), u).unwrap();
    core.detach_device(dev(1), u).unwrap();
    core.driver().take_log();
    assert_eq!(core.free_domain(u), Err(Error::DomainBusy(u)));
    assert_eq!(core.free_domain(dom(1)), Err(Error::DomainBusy(dom(1))));
    assert_eq!(core.driver().take_log(), []);
    core.detach_device(dev(2), u).unwrap();
    core.driver().take_log();
    assert_eq!(core.free_domain(u), Ok(()));
    assert_eq!(core.driver().take_log(), [ok(Call::DomainFree(u))]);
    assert_consistent(&core);
}

#[test]
fn errors_are_copy_eq_and_displayable_with_the_driver_error_as_source() {
    use core::error::Error as _;
    let driver_error = TestError {
        op: Op::Map,
        dev: None,
    };
    let e: CoreError = Error::Driver(driver_error);
    let copy = e;
    assert_eq!(copy, e);
    assert_eq!(e.to_string(), "IOMMU driver error");
    assert_eq!(
        e.source().map(|s| s.to_string()),
        Some(driver_error.to_string())
    );
    let full: CoreError = Error::CapacityFull(iommu_core::Resource::Domains);
    assert!(full.to_string().contains("Domains"));
    assert!(full.source().is_none());
}
