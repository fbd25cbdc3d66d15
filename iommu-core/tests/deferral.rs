//! The deferred-attach rules of kdump.md §11, one test (or more) per rule.

mod common;

use common::*;
use iommu_core::{DefaultDomainKind, DomainKind, Error, Iova, PhysAddr, Prot};

const RW: Prot = Prot::READ.union(Prot::WRITE);

fn dma_map(core: &mut Core, d: u32, iova: u64) -> Result<(), CoreError> {
    core.dma_map(dev(d), Iova(iova), PhysAddr(0x8000_0000 + iova), 0x1000, RW)
}

fn map_call(domain: u32, iova: u64) -> Call {
    Call::Map {
        domain: dom(domain),
        iova,
        paddr: 0x8000_0000 + iova,
        size: 0x1000,
    }
}

/// §11.1 + §11.2: the flag comes from the driver after probe, group and PASID; setting the
/// new group's default domain on a deferred device does not call the driver, but the group
/// records the default domain and the device reports it.
#[test]
fn deferred_device_gets_the_default_domain_recorded_but_not_attached() {
    let mut core = core_with(&[1], &[]);
    assert_eq!(probe(&mut core, 1), Ok(grp(1)));
    let mut expected = probe_calls(1);
    expected.push(ok(alloc(1, DomainKind::Dma, 1)));
    assert_eq!(
        core.driver().take_log(),
        expected,
        "no attach for a deferred device"
    );

    assert_eq!(core.is_attach_deferred(dev(1)), Ok(true));
    let info = core.device(dev(1)).unwrap();
    assert_eq!(info.domain, dom(1), "the core reports the default domain");
    assert_eq!(info.attached_domain, None);
    let g = core.group(grp(1)).unwrap();
    assert_eq!((g.default_domain, g.domain), (dom(1), dom(1)));
    assert_eq!(core.driver().hw.get(&dev(1)), None, "hardware untouched");
    assert_consistent(&core);
}

/// §11.2 in a multi-device group, both probe orders: the deferred device skips the
/// default domain, its sibling is attached for real; both report the same domain.
#[test]
fn multi_device_group_with_one_deferred_and_one_normal_device() {
    for order in [[1, 2], [2, 1]] {
        let mut core = core_with(&[1], &[(1, 5), (2, 5)]);
        for n in order {
            assert_eq!(probe(&mut core, n), Ok(grp(5)));
        }
        let attaches: Vec<_> = core
            .driver()
            .take_log()
            .into_iter()
            .filter(|(c, _)| matches!(c, Call::Attach { .. }))
            .collect();
        assert_eq!(attaches, [ok(attach(2, 1, None))], "order {order:?}");
        assert_eq!(core.is_attach_deferred(dev(1)), Ok(true));
        assert_eq!(core.is_attach_deferred(dev(2)), Ok(false));
        assert_eq!(core.device(dev(1)).unwrap().domain, dom(1));
        assert_eq!(core.device(dev(2)).unwrap().domain, dom(1));
        assert_consistent(&core);

        // DMA by the normal device does not touch its deferred sibling...
        dma_map(&mut core, 2, 0x1000).unwrap();
        assert_eq!(core.driver().take_log(), [ok(map_call(1, 0x1000))]);
        assert_eq!(core.is_attach_deferred(dev(1)), Ok(true));
        // ...and the deferred device's own first DMA attaches it, to the shared domain.
        dma_map(&mut core, 1, 0x2000).unwrap();
        assert_eq!(
            core.driver().take_log(),
            [ok(attach(1, 1, None)), ok(map_call(1, 0x2000))]
        );
        assert_eq!(core.is_attach_deferred(dev(1)), Ok(false));
        assert_consistent(&core);
    }
}

/// §11.3: the first DMA map performs the attach to the default domain, then maps.
#[test]
fn first_dma_map_ends_the_deferral() {
    let mut core = core_with(&[1], &[]);
    probe(&mut core, 1).unwrap();
    core.driver().take_log();
    dma_map(&mut core, 1, 0x1000).unwrap();
    assert_eq!(
        core.driver().take_log(),
        [ok(attach(1, 1, None)), ok(map_call(1, 0x1000))]
    );
    assert_eq!(core.is_attach_deferred(dev(1)), Ok(false));
    assert_eq!(core.device(dev(1)).unwrap().attached_domain, Some(dom(1)));
    assert_eq!(core.driver().hw.get(&dev(1)), Some(&dom(1)));

    // Later maps only map.
    dma_map(&mut core, 1, 0x2000).unwrap();
    assert_eq!(core.driver().take_log(), [ok(map_call(1, 0x2000))]);
    assert_eq!(
        core.iova_to_phys(dev(1), Iova(0x2010)),
        Ok(Some(PhysAddr(0x8000_2010)))
    );
    assert_eq!(core.dma_unmap(dev(1), Iova(0x2000), 0x1000), Ok(0x1000));
    assert_consistent(&core);
}

/// §11.3: if the deferred attach fails, the DMA call fails, nothing is mapped and the
/// device stays deferred; the next DMA call tries again.
#[test]
fn failed_deferred_attach_fails_the_dma_call_and_keeps_the_deferral() {
    let mut core = core_with(&[1], &[]);
    probe(&mut core, 1).unwrap();
    core.driver().take_log();
    let before = snapshot(&core);
    core.driver_mut().fail_dev(Op::Attach, 1);

    let e = dma_map(&mut core, 1, 0x1000).unwrap_err();
    assert_eq!(
        e,
        Error::Driver(TestError {
            op: Op::Attach,
            dev: Some(dev(1))
        })
    );
    assert_eq!(
        core.driver().take_log(),
        [err(attach(1, 1, None))],
        "no map"
    );
    assert_eq!(core.is_attach_deferred(dev(1)), Ok(true));
    assert_eq!(snapshot(&core), before);
    assert_eq!(core.deferred_attach(dev(1)), Err(e));
    assert_eq!(core.is_attach_deferred(dev(1)), Ok(true));

    core.driver_mut().clear_failures();
    core.driver().take_log();
    dma_map(&mut core, 1, 0x1000).unwrap();
    assert_eq!(
        core.driver().take_log(),
        [ok(attach(1, 1, None)), ok(map_call(1, 0x1000))]
    );
    assert_consistent(&core);
}

/// A failing map after a successful deferred attach: the attach stands (the device is on
/// its default domain for real), the map fails.
#[test]
fn dma_map_failure_after_deferred_attach_keeps_the_attach() {
    let mut core = core_with(&[1], &[]);
    probe(&mut core, 1).unwrap();
    core.driver().take_log();
    core.driver_mut().fail(Op::Map);
    assert!(matches!(
        dma_map(&mut core, 1, 0x1000),
        Err(Error::Driver(_))
    ));
    assert_eq!(
        core.driver().take_log(),
        [ok(attach(1, 1, None)), err(map_call(1, 0x1000))]
    );
    assert_eq!(core.is_attach_deferred(dev(1)), Ok(false));
    assert_eq!(core.iova_to_phys(dev(1), Iova(0x1000)), Ok(None));
    assert_consistent(&core);
}

/// `deferred_attach` does nothing (no driver call) for a device that is not deferred.
#[test]
fn deferred_attach_is_a_no_op_when_the_flag_is_clear() {
    let mut core = core_with(&[1], &[]);
    probe(&mut core, 1).unwrap();
    probe(&mut core, 2).unwrap();
    core.driver().take_log();
    assert_eq!(core.deferred_attach(dev(2)), Ok(()));
    assert_eq!(core.driver().take_log(), []);
    assert_eq!(core.deferred_attach(dev(1)), Ok(()));
    assert_eq!(core.driver().take_log(), [ok(attach(1, 1, None))]);
    assert_eq!(core.deferred_attach(dev(1)), Ok(()));
    assert_eq!(core.driver().take_log(), []);
}

/// A direct map by an owner (not the DMA API) maps into the current domain and does not
/// end the deferral.
#[test]
fn direct_map_does_not_end_the_deferral() {
    let mut core = core_with(&[1], &[]);
    probe(&mut core, 1).unwrap();
    core.driver().take_log();
    core.map(dev(1), Iova(0x1000), PhysAddr(0x8000_1000), 0x1000, RW)
        .unwrap();
    assert_eq!(core.driver().take_log(), [ok(map_call(1, 0x1000))]);
    assert_eq!(core.is_attach_deferred(dev(1)), Ok(true));
    assert_eq!(core.unmap(dev(1), Iova(0x1000), 0x1000), Ok(0x1000));
    assert_eq!(core.is_attach_deferred(dev(1)), Ok(true));
    assert_consistent(&core);
}

/// §11.4: an explicit attach of a caller's domain clears the flag and attaches for real;
/// the later detach back to the default domain is a real attach as well (the flag is
/// already clear) and does not consult the driver's deferral callback again.
#[test]
fn explicit_attach_ends_the_deferral_and_detach_attaches_for_real() {
    let mut core = core_with(&[1], &[]);
    probe(&mut core, 1).unwrap();
    let u = core.alloc_domain(dev(1), DomainKind::Unmanaged).unwrap();
    assert_eq!(u, dom(2));
    core.driver().take_log();

    core.attach_device(dev(1), u).unwrap();
    assert_eq!(core.driver().take_log(), [ok(attach(1, 2, None))]);
    assert_eq!(core.is_attach_deferred(dev(1)), Ok(false));
    assert_eq!(core.device(dev(1)).unwrap().domain, u);

    core.detach_device(dev(1), u).unwrap();
    assert_eq!(core.driver().take_log(), [ok(attach(1, 1, Some(2)))]);
    assert_eq!(core.device(dev(1)).unwrap().domain, dom(1));
    assert_eq!(core.is_attach_deferred(dev(1)), Ok(false));
    assert_consistent(&core);
}

/// A failed explicit attach leaves the deferred device deferred, on the old hardware
/// configuration (stricter than Linux, which attaches the default domain in its unwind).
#[test]
fn failed_explicit_attach_keeps_the_deferral() {
    let mut core = core_with(&[1], &[]);
    probe(&mut core, 1).unwrap();
    let u = core.alloc_domain(dev(1), DomainKind::Unmanaged).unwrap();
    core.driver().take_log();
    let before = snapshot(&core);
    core.driver_mut().fail_dev(Op::Attach, 1);
    assert!(matches!(
        core.attach_device(dev(1), u),
        Err(Error::Driver(_))
    ));
    assert_eq!(core.driver().take_log(), [err(attach(1, 2, None))]);
    assert_eq!(snapshot(&core), before);
    assert_eq!(core.is_attach_deferred(dev(1)), Ok(true));
}

/// §11.4: claiming DMA ownership sets a blocking domain on every device for real, ending
/// the deferral; releasing goes back to the default domain with real attaches.
#[test]
fn dma_ownership_claim_ends_the_deferral() {
    let mut core = core_with(&[1], &[(1, 3), (2, 3)]);
    probe(&mut core, 1).unwrap();
    probe(&mut core, 2).unwrap();
    core.driver().take_log();

    core.claim_dma_ownership(grp(3)).unwrap();
    // Blocking domain allocated for the group's first device; the normal device is switched
    // first, the deferred one last.
    assert_eq!(
        core.driver().take_log(),
        [
            ok(alloc(2, DomainKind::Blocked, 1)),
            ok(attach(2, 2, Some(1))),
            ok(attach(1, 2, None)),
        ]
    );
    assert_eq!(core.is_attach_deferred(dev(1)), Ok(false));
    let g = core.group(grp(3)).unwrap();
    assert!(g.dma_owned);
    assert_eq!((g.domain, g.default_domain), (dom(2), dom(1)));
    assert_consistent(&core);

    core.release_dma_ownership(grp(3)).unwrap();
    assert_eq!(
        core.driver().take_log(),
        [
            ok(attach(1, 1, Some(2))),
            ok(attach(2, 1, Some(2))),
            ok(Call::DomainFree(dom(2))),
        ]
    );
    let g = core.group(grp(3)).unwrap();
    assert!(!g.dma_owned);
    assert_eq!(g.domain, dom(1));
    assert_consistent(&core);
}

/// §11.4: a default-domain type change creates a new default domain and attaches every
/// device to it for real, deferred ones included, then frees the old one.
#[test]
fn default_domain_type_change_ends_the_deferral() {
    let mut core = core_with(&[1], &[(1, 3), (2, 3)]);
    probe(&mut core, 1).unwrap();
    probe(&mut core, 2).unwrap();
    core.driver().take_log();

    core.change_default_domain(grp(3), DefaultDomainKind::Identity)
        .unwrap();
    assert_eq!(
        core.driver().take_log(),
        [
            ok(alloc(2, DomainKind::Identity, 1)),
            ok(attach(2, 2, Some(1))),
            ok(attach(1, 2, None)),
            ok(Call::DomainFree(dom(1))),
        ]
    );
    assert_eq!(core.is_attach_deferred(dev(1)), Ok(false));
    let g = core.group(grp(3)).unwrap();
    assert_eq!((g.default_domain, g.domain), (dom(2), dom(2)));
    assert_eq!(core.domain_kind(dom(2)), Ok(DomainKind::Identity));
    assert_consistent(&core);
}

/// The same kind still means a fresh domain and a real attach.
#[test]
fn default_domain_change_to_the_same_kind_also_ends_the_deferral() {
    let mut core = core_with(&[1], &[]);
    probe(&mut core, 1).unwrap();
    core.driver().take_log();
    core.change_default_domain(grp(1), DefaultDomainKind::Dma)
        .unwrap();
    assert_eq!(
        core.driver().take_log(),
        [
            ok(alloc(2, DomainKind::Dma, 1)),
            ok(attach(1, 2, None)),
            ok(Call::DomainFree(dom(1))),
        ]
    );
    assert_eq!(core.is_attach_deferred(dev(1)), Ok(false));
}

/// §11.2: a device joining a group whose current domain is not the default domain (here a
/// DMA-owned group in its blocking domain, and a group with a caller domain) is attached
/// for real even though the driver says it is deferred.
#[test]
fn deferred_device_joining_a_group_in_another_domain_is_attached() {
    let mut core = core_with(&[2], &[(1, 1), (2, 1)]);
    probe(&mut core, 1).unwrap();
    core.claim_dma_ownership(grp(1)).unwrap();
    core.driver().take_log();
    probe(&mut core, 2).unwrap();
    let mut expected = probe_calls(2);
    expected.push(ok(attach(2, 2, None)));
    assert_eq!(core.driver().take_log(), expected);
    assert_eq!(core.is_attach_deferred(dev(2)), Ok(false));
    assert_consistent(&core);

    let mut core = core_with(&[2], &[(1, 1), (2, 1)]);
    probe(&mut core, 1).unwrap();
    let u = core.alloc_domain(dev(1), DomainKind::Unmanaged).unwrap();
    core.attach_group(grp(1), u).unwrap();
    core.driver().take_log();
    probe(&mut core, 2).unwrap();
    let mut expected = probe_calls(2);
    expected.push(ok(attach(2, 2, None)));
    assert_eq!(core.driver().take_log(), expected);
    assert_eq!(core.is_attach_deferred(dev(2)), Ok(false));
    assert_consistent(&core);
}

/// §11.1/§11.4: the flag is a cached value: the driver's callback runs exactly once per
/// probe, and no later operation (detach included) asks it again.
#[test]
fn the_deferral_callback_runs_once_per_probe_and_never_on_detach() {
    let mut core = core_with(&[1, 2], &[(1, 1), (2, 1)]);
    probe(&mut core, 1).unwrap();
    probe(&mut core, 2).unwrap();
    let u = core.alloc_domain(dev(1), DomainKind::Unmanaged).unwrap();
    core.attach_group(grp(1), u).unwrap();
    core.detach_group(grp(1), u).unwrap();
    core.claim_dma_ownership(grp(1)).unwrap();
    core.release_dma_ownership(grp(1)).unwrap();
    dma_map(&mut core, 1, 0).unwrap();
    core.change_default_domain(grp(1), DefaultDomainKind::Dma)
        .unwrap();
    core.release_device(dev(2)).unwrap();
    let queries = core
        .driver()
        .log()
        .iter()
        .filter(|(c, _)| matches!(c, Call::IsDeferred(_)))
        .count();
    assert_eq!(queries, 2);
    assert_consistent(&core);
}

/// Releasing a still-deferred device tells the driver it never attached it.
#[test]
fn releasing_a_deferred_device_passes_no_attached_domain() {
    let mut core = core_with(&[1], &[]);
    probe(&mut core, 1).unwrap();
    core.driver().take_log();
    core.release_device(dev(1)).unwrap();
    assert_eq!(
        core.driver().take_log(),
        [
            ok(Call::Release {
                dev: dev(1),
                attached: None
            }),
            ok(Call::DomainFree(dom(1))),
        ]
    );
}

/// A device the driver does not report as deferred is attached at probe, exactly as in a
/// normal boot (kdump.md §10).
#[test]
fn a_normal_boot_never_defers() {
    let mut core = core_with(&[], &[(1, 1), (2, 1)]);
    probe(&mut core, 1).unwrap();
    probe(&mut core, 2).unwrap();
    assert_eq!(core.is_attach_deferred(dev(1)), Ok(false));
    assert_eq!(core.is_attach_deferred(dev(2)), Ok(false));
    let attaches = core
        .driver()
        .log()
        .iter()
        .filter(|(c, _)| matches!(c, Call::Attach { .. }))
        .count();
    assert_eq!(attaches, 2);
}
