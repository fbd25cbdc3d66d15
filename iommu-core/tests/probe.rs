//! Probe and release: driver call order (kdump.md §11.1), groups and default domains
//! (§11.2), capacities, and "a failing driver call leaves the core as it was".

mod common;

use common::*;
use iommu_core::{
    DefaultDomainKind, DeviceDesc, DeviceId, DomainKind, Error, IommuCore, Iova, PhysAddr, Prot,
    Resource, StreamId,
};

#[test]
fn probe_runs_driver_steps_in_order_then_attaches_new_default_domain() {
    let mut core = core_with(&[], &[]);
    assert_eq!(probe(&mut core, 1), Ok(grp(1)));

    let mut expected = probe_calls(1);
    expected.push(ok(alloc(1, DomainKind::Dma, 1)));
    expected.push(ok(attach(1, 1, None)));
    assert_eq!(core.driver().take_log(), expected);

    let info = core.device(dev(1)).unwrap();
    assert_eq!(info.group, grp(1));
    assert_eq!(info.domain, dom(1));
    assert_eq!(info.attached_domain, Some(dom(1)));
    assert!(!info.attach_deferred);
    let g = core.group(grp(1)).unwrap();
    assert_eq!(
        (g.default_domain, g.domain, g.dma_owned, g.devices),
        (dom(1), dom(1), false, 1)
    );
    assert_eq!(core.driver().hw.get(&dev(1)), Some(&dom(1)));
    assert_consistent(&core);
}

#[test]
fn later_device_joins_the_group_domain_without_a_new_domain() {
    let mut core = core_with(&[], &[(1, 7), (2, 7)]);
    assert_eq!(probe(&mut core, 1), Ok(grp(7)));
    core.driver().take_log();
    assert_eq!(probe(&mut core, 2), Ok(grp(7)));

    let mut expected = probe_calls(2);
    expected.push(ok(attach(2, 1, None)));
    assert_eq!(core.driver().take_log(), expected);
    assert_eq!(core.group(grp(7)).unwrap().devices, 2);
    assert_eq!(core.domains().count(), 1);
    assert_consistent(&core);
}

#[test]
fn identity_default_kind_allocates_identity_domains_that_cannot_map() {
    let mut core: Core = IommuCore::new(RecDriver::default(), DefaultDomainKind::Identity);
    probe(&mut core, 1).unwrap();
    assert_eq!(core.domain_kind(dom(1)), Ok(DomainKind::Identity));
    assert!(
        core.driver()
            .log()
            .contains(&ok(alloc(1, DomainKind::Identity, 1)))
    );
    core.driver().take_log();

    let e = Err(Error::UnsupportedDomainKind(DomainKind::Identity));
    assert_eq!(
        core.map(dev(1), Iova(0), PhysAddr(0), 0x1000, Prot::READ),
        e
    );
    assert_eq!(
        core.dma_map(dev(1), Iova(0), PhysAddr(0), 0x1000, Prot::READ),
        e
    );
    assert_eq!(core.unmap(dev(1), Iova(0), 0x1000), e.map(|()| 0));
    assert_eq!(core.iova_to_phys(dev(1), Iova(0)), e.map(|()| None));
    assert_eq!(core.driver().take_log(), []);
}

#[test]
fn pasid_width_is_the_smaller_of_firmware_and_driver() {
    let mut core = core_with(&[], &[]);
    core.driver_mut().max_pasid_bits = 16;
    let sids = [StreamId(1)];
    core.probe_device(DeviceDesc::new(dev(1), &sids).with_pasid_bits(20))
        .unwrap();
    core.probe_device(DeviceDesc::new(dev(2), &sids).with_pasid_bits(5))
        .unwrap();
    core.probe_device(DeviceDesc::new(dev(3), &sids)).unwrap();
    assert_eq!(core.device(dev(1)).unwrap().max_pasid_bits, 16);
    assert_eq!(core.device(dev(2)).unwrap().max_pasid_bits, 5);
    assert_eq!(core.device(dev(3)).unwrap().max_pasid_bits, 0);
    let desc = core.device_desc(dev(2)).unwrap();
    assert_eq!((desc.stream_ids, desc.pasid_bits), (&sids[..], Some(5)));
}

#[test]
fn probing_twice_is_refused_without_driver_calls() {
    let mut core = core_with(&[], &[]);
    probe(&mut core, 1).unwrap();
    let before = snapshot(&core);
    core.driver().take_log();
    assert_eq!(probe(&mut core, 1), Err(Error::AlreadyProbed(dev(1))));
    assert_eq!(core.driver().take_log(), []);
    assert_eq!(snapshot(&core), before);
}

#[test]
fn unknown_ids_are_typed_errors_without_driver_calls() {
    let mut core = core_with(&[], &[]);
    probe(&mut core, 1).unwrap();
    core.driver().take_log();
    let u = dev(9);
    let ud = Err(Error::UnknownDevice(u));
    assert_eq!(core.release_device(u), ud);
    assert_eq!(core.is_attach_deferred(u), ud.map(|()| false));
    assert_eq!(core.deferred_attach(u), ud);
    assert_eq!(
        core.alloc_domain(u, DomainKind::Unmanaged),
        ud.map(|()| dom(0))
    );
    assert_eq!(core.attach_device(u, dom(1)), ud);
    assert_eq!(core.detach_device(u, dom(1)), ud);
    assert_eq!(core.dma_map(u, Iova(0), PhysAddr(0), 1, Prot::READ), ud);
    assert_eq!(core.map(u, Iova(0), PhysAddr(0), 1, Prot::READ), ud);
    assert_eq!(core.unmap(u, Iova(0), 1), ud.map(|()| 0));
    assert_eq!(core.dma_unmap(u, Iova(0), 1), ud.map(|()| 0));
    assert!(core.device(u).is_err());
    assert!(core.device_desc(u).is_err());

    let ug = Err(Error::UnknownGroup(grp(9)));
    assert_eq!(core.attach_group(grp(9), dom(1)), ug);
    assert_eq!(core.detach_group(grp(9), dom(1)), ug);
    assert_eq!(core.claim_dma_ownership(grp(9)), ug);
    assert_eq!(core.release_dma_ownership(grp(9)), ug);
    assert_eq!(
        core.change_default_domain(grp(9), DefaultDomainKind::Dma),
        ug
    );
    assert!(core.group(grp(9)).is_err());

    assert_eq!(
        core.attach_device(dev(1), dom(9)),
        Err(Error::UnknownDomain(dom(9)))
    );
    assert_eq!(core.free_domain(dom(9)), Err(Error::UnknownDomain(dom(9))));
    assert_eq!(core.domain_kind(dom(9)), Err(Error::UnknownDomain(dom(9))));
    assert_eq!(core.driver().take_log(), []);
}

type Tiny = IommuCore<RecDriver, 2, 2, 3, 2>;

fn tiny(groups: &[(u32, u32)]) -> Tiny {
    let mut driver = RecDriver::default();
    driver.groups = groups.iter().map(|&(d, g)| (dev(d), grp(g))).collect();
    IommuCore::new(driver, DefaultDomainKind::Dma)
}

#[test]
fn device_and_stream_id_capacity_is_checked_before_the_driver_is_called() {
    let mut core = tiny(&[]);
    let three = [StreamId(1), StreamId(2), StreamId(3)];
    assert_eq!(
        core.probe_device(DeviceDesc::new(dev(1), &three)),
        Err(Error::CapacityFull(Resource::StreamIds))
    );
    assert_eq!(core.driver().take_log(), []);
    core.probe_device(DeviceDesc::new(dev(1), &three[..2]))
        .unwrap();
    probe(&mut core, 2).unwrap();
    core.driver().take_log();
    let before = snapshot(&core);
    assert_eq!(
        probe(&mut core, 3),
        Err(Error::CapacityFull(Resource::Devices))
    );
    assert_eq!(core.driver().take_log(), []);
    assert_eq!(snapshot(&core), before);
}

#[test]
fn group_capacity_exhaustion_releases_the_device_and_changes_nothing() {
    let mut core: IommuCore<RecDriver, 4, 1, 4, 1> =
        IommuCore::new(RecDriver::default(), DefaultDomainKind::Dma);
    probe(&mut core, 1).unwrap();
    core.driver().take_log();
    let before = snapshot(&core);
    assert_eq!(
        probe(&mut core, 2),
        Err(Error::CapacityFull(Resource::Groups))
    );
    let mut expected = probe_calls(2);
    expected.push(ok(Call::Release {
        dev: dev(2),
        attached: None,
    }));
    assert_eq!(core.driver().take_log(), expected);
    assert_eq!(snapshot(&core), before);
}

#[test]
fn domain_capacity_exhaustion_is_an_error_everywhere() {
    // 2 devices in separate groups use 2 domains; one slot left.
    let mut core = tiny(&[]);
    probe(&mut core, 1).unwrap();
    probe(&mut core, 2).unwrap();
    let u = core.alloc_domain(dev(1), DomainKind::Unmanaged).unwrap();
    core.driver().take_log();
    let before = snapshot(&core);
    let full = Err(Error::CapacityFull(Resource::Domains));
    assert_eq!(
        core.alloc_domain(dev(1), DomainKind::Unmanaged),
        full.map(|()| dom(0))
    );
    assert_eq!(core.claim_dma_ownership(grp(1)), full);
    assert_eq!(
        core.change_default_domain(grp(1), DefaultDomainKind::Identity),
        full
    );
    assert_eq!(core.driver().take_log(), []);
    assert_eq!(snapshot(&core), before);

    // Probe into a new group needs a domain too: release device 2, free u, fill again.
    core.release_device(dev(2)).unwrap();
    core.free_domain(u).unwrap();
    core.alloc_domain(dev(1), DomainKind::Blocked).unwrap();
    core.alloc_domain(dev(1), DomainKind::Identity).unwrap();
    core.driver().take_log();
    let before = snapshot(&core);
    assert_eq!(probe(&mut core, 2), full.map(|()| grp(0)));
    let mut expected = probe_calls(2);
    expected.push(ok(Call::Release {
        dev: dev(2),
        attached: None,
    }));
    assert_eq!(core.driver().take_log(), expected);
    assert_eq!(snapshot(&core), before);
}

#[test]
fn failing_probe_step_leaves_core_unchanged_and_undoes_the_driver() {
    // (operation to fail, calls after the probe-time queries)
    let cases: [(Op, Vec<(Call, bool)>); 4] = [
        (Op::Probe, vec![err(Call::Probe(dev(2)))]),
        (
            Op::Group,
            vec![
                ok(Call::Probe(dev(2))),
                err(Call::Group(dev(2))),
                ok(Call::Release {
                    dev: dev(2),
                    attached: None,
                }),
            ],
        ),
        (Op::DomainAlloc, {
            let mut v = probe_calls(2);
            v.push(err(alloc(2, DomainKind::Dma, 2)));
            v.push(ok(Call::Release {
                dev: dev(2),
                attached: None,
            }));
            v
        }),
        (Op::Attach, {
            let mut v = probe_calls(2);
            v.push(ok(alloc(2, DomainKind::Dma, 2)));
            v.push(err(attach(2, 2, None)));
            v.push(ok(Call::DomainFree(dom(2))));
            v.push(ok(Call::Release {
                dev: dev(2),
                attached: None,
            }));
            v
        }),
    ];
    for (op, expected) in cases {
        let mut core = core_with(&[], &[]);
        probe(&mut core, 1).unwrap();
        core.driver().take_log();
        let before = snapshot(&core);
        core.driver_mut().fail_dev(op, 2);
        let e = probe(&mut core, 2).unwrap_err();
        assert!(
            matches!(e, Error::Driver(TestError { op: o, .. }) if o == op),
            "{op:?}"
        );
        assert_eq!(core.driver().take_log(), expected, "{op:?}");
        assert_eq!(snapshot(&core), before, "{op:?}");
        // The failure was the only obstacle.
        core.driver_mut().clear_failures();
        assert_eq!(probe(&mut core, 2), Ok(grp(2)));
        // Not even the domain-id counter moved: the first id handed out is 2.
        assert_eq!(core.group(grp(2)).unwrap().default_domain, dom(2));
        assert_consistent(&core);
    }
}

#[test]
fn failing_attach_when_joining_a_group_releases_the_device() {
    let mut core = core_with(&[], &[(1, 1), (2, 1)]);
    probe(&mut core, 1).unwrap();
    core.driver().take_log();
    let before = snapshot(&core);
    core.driver_mut().fail_dev(Op::Attach, 2);
    assert!(matches!(probe(&mut core, 2), Err(Error::Driver(_))));
    let mut expected = probe_calls(2);
    expected.push(err(attach(2, 1, None)));
    expected.push(ok(Call::Release {
        dev: dev(2),
        attached: None,
    }));
    assert_eq!(core.driver().take_log(), expected);
    assert_eq!(snapshot(&core), before);
}

#[test]
fn releasing_the_last_device_frees_the_group_and_its_default_domain() {
    let mut core = core_with(&[], &[(1, 1), (2, 1)]);
    probe(&mut core, 1).unwrap();
    probe(&mut core, 2).unwrap();
    core.driver().take_log();

    assert_eq!(core.release_device(dev(1)), Ok(()));
    assert_eq!(
        core.driver().take_log(),
        [ok(Call::Release {
            dev: dev(1),
            attached: Some(dom(1))
        })]
    );
    assert_eq!(core.group(grp(1)).unwrap().devices, 1);

    assert_eq!(core.release_device(dev(2)), Ok(()));
    assert_eq!(
        core.driver().take_log(),
        [
            ok(Call::Release {
                dev: dev(2),
                attached: Some(dom(1))
            }),
            ok(Call::DomainFree(dom(1))),
        ]
    );
    assert_eq!(core.groups().count(), 0);
    assert_eq!(core.domains().count(), 0);
    assert_eq!(
        core.release_device(dev(2)),
        Err(Error::UnknownDevice(dev(2)))
    );
    assert_consistent(&core);

    // Probing again creates a new group with a new (never reused) domain id.
    probe(&mut core, 1).unwrap();
    assert_eq!(core.group(grp(1)).unwrap().default_domain, dom(2));
}

#[test]
fn release_is_refused_while_owned_or_a_caller_domain_is_attached() {
    let mut core = core_with(&[], &[]);
    probe(&mut core, 1).unwrap();
    probe(&mut core, 2).unwrap();
    core.claim_dma_ownership(grp(1)).unwrap();
    let u = core.alloc_domain(dev(2), DomainKind::Unmanaged).unwrap();
    core.attach_device(dev(2), u).unwrap();
    core.driver().take_log();
    let before = snapshot(&core);
    assert_eq!(core.release_device(dev(1)), Err(Error::GroupOwned(grp(1))));
    assert_eq!(core.release_device(dev(2)), Err(Error::GroupBusy(grp(2))));
    assert_eq!(core.driver().take_log(), []);
    assert_eq!(snapshot(&core), before);
}

#[test]
fn device_ids_are_the_os_choice_and_lookups_work_in_any_order() {
    let mut core = core_with(&[], &[]);
    for n in [5, 1, 7, 3] {
        probe(&mut core, n).unwrap();
    }
    assert_eq!(
        core.devices().collect::<Vec<_>>(),
        [1, 3, 5, 7].map(DeviceId).to_vec()
    );
    for n in [5, 1, 7, 3] {
        assert_eq!(core.device(dev(n)).unwrap().group, grp(n));
    }
    assert_consistent(&core);
}
