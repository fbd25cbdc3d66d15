//! The kdump scenario of the `kdump` program, run through the library with small device
//! counts. Expectations come from kdump.md: with adoption every live device keeps
//! translating through the crash and is deferred (§10: V = 1 and Config ≠ ABORT), a
//! blocked device is not; its first DMA map attaches it (§11.3) and the new DMA lands in
//! the new buffers. Without adoption the full reset aborts in-flight DMA (§1, §4.5).

use std::time::Duration;

use smmu_examples::kdump::{
    self, DeviceDomain, DeviceReport, Mode, RunConfig, RunReport, TableFormat,
};
use smmu_v3_driver::{AdoptSource, AdoptionOutcome, FallbackReason};

/// A short run: 4 devices (one of each kind), count-based phases.
fn config(mode: Mode, table: TableFormat, seed: u64) -> RunConfig {
    RunConfig {
        devices: 4,
        seed,
        before_crash: 100,
        during_handover: 150,
        after_reattach: 16,
        deadline: Duration::from_secs(120),
        ..RunConfig::new(mode, table)
    }
}

fn run(config: &RunConfig) -> RunReport {
    let mut lines = Vec::new();
    let report = kdump::run(config, &mut |l| lines.push(l.to_owned())).unwrap();
    assert!(lines.iter().any(|l| l.contains("CRASHED")), "{lines:#?}");
    report
}

fn zero_trouble(d: &DeviceReport) {
    for (phase, c) in ["before crash", "during handover", "after re-attach"]
        .iter()
        .zip(d.counts.phases())
    {
        assert_eq!(
            (c.faulted, c.aborted, c.misdirected),
            (0, 0, 0),
            "sid {:#x} {phase}: {c:?}",
            d.sid
        );
    }
}

fn check_adopted(r: &RunReport) {
    assert_eq!(
        r.adoption,
        AdoptionOutcome::Adopted {
            source: AdoptSource::Kdump
        }
    );
    assert_eq!(r.fallback_reason(), None);
    assert!(r.strtab_kept, "the table is adopted in place");
    assert_eq!(r.devices.len(), 4);
    for kind in DeviceDomain::ALL {
        assert!(
            r.devices.iter().any(|d| d.domain == kind),
            "{kind:?} missing"
        );
    }
    for d in &r.devices {
        zero_trouble(d);
        assert!(d.after_reattach() >= 16, "sid {:#x}", d.sid);
        assert!(d.data_verified, "sid {:#x}", d.sid);
        if d.domain.is_live() {
            assert!(d.deferred, "live sid {:#x} must be deferred", d.sid);
            assert!(d.before_crash() >= 100, "sid {:#x}", d.sid);
            assert!(d.during_handover() >= 150, "sid {:#x}", d.sid);
            assert_eq!(d.counts.during_handover.completed, d.during_handover());
        } else {
            assert!(!d.deferred, "blocked sid {:#x} must not be deferred", d.sid);
            assert_eq!(d.before_crash() + d.during_handover(), 0);
        }
        // The re-attached STE is a DMA domain of the stage the device asked for
        // (identity and blocked devices get the default, stage 1).
        let want = match d.domain {
            DeviceDomain::S2Dma => DeviceDomain::S2Dma,
            _ => DeviceDomain::S1Dma,
        };
        assert_eq!(d.domain_after, Some(want), "sid {:#x}", d.sid);
    }
}

#[test]
fn adopt_two_level() {
    let r = run(&config(Mode::Adopt, TableFormat::TwoLevel, 1));
    check_adopted(&r);
    // Several L2 tables: StreamID bits 8 and up differ.
    let mut l1: Vec<u32> = r.devices.iter().map(|d| d.sid >> 8).collect();
    l1.dedup();
    assert!(l1.len() >= 2, "{l1:?}");
}

#[test]
fn adopt_linear() {
    let r = run(&config(Mode::Adopt, TableFormat::Linear, 7));
    check_adopted(&r);
    assert!(
        r.devices
            .iter()
            .all(|d| d.sid < 1 << kdump::LINEAR_SID_BITS)
    );
}

/// Kernel 1's STEs in a fresh table are gone; until each device is probed its StreamID
/// hits an abort STE (linear: the whole fresh table is abort STEs) — the DMA is aborted.
#[test]
fn reset_linear_aborts_in_flight_dma() {
    let r = run(&config(Mode::Reset, TableFormat::Linear, 7));
    assert_eq!(r.fallback_reason(), Some(FallbackReason::DisabledByConfig));
    for d in &r.devices {
        assert!(!d.deferred);
        let after = d.counts.after_reattach;
        assert_eq!((after.faulted, after.aborted, after.misdirected), (0, 0, 0));
        assert!(d.after_reattach() >= 16 && d.data_verified);
        if d.domain.is_live() {
            assert_eq!(
                d.counts.before_crash.total(),
                d.counts.before_crash.completed
            );
            assert!(
                d.counts.during_handover.aborted > 0,
                "sid {:#x}: {:?}",
                d.sid,
                d.counts.during_handover
            );
        }
    }
}

/// 2-level: the fresh table has no L2 table until a device of its range is probed
/// (C_BAD_STREAMID), then abort STEs (§5 step 3) until the device itself is probed,
/// then an empty DMA domain (F_TRANSLATION) until its driver maps memory.
#[test]
fn reset_two_level_terminates_in_flight_dma() {
    let r = run(&config(Mode::Reset, TableFormat::TwoLevel, 1));
    assert_eq!(r.fallback_reason(), Some(FallbackReason::DisabledByConfig));
    assert!(!r.strtab_kept);
    let mut sharing = false;
    for (i, d) in r.devices.iter().enumerate() {
        assert!(!d.deferred);
        let h = d.counts.during_handover;
        if d.domain.is_live() {
            assert!(h.faulted + h.aborted > 0, "sid {:#x}: {h:?}", d.sid);
            assert_eq!(h.misdirected, 0);
            // A live device probed after another device of its L2 range sat on an
            // abort STE in between.
            if r.devices[..i].iter().any(|e| e.sid >> 8 == d.sid >> 8) {
                sharing = true;
                assert!(h.aborted > 0, "sid {:#x}: {h:?}", d.sid);
            }
        }
        let after = d.counts.after_reattach;
        assert_eq!((after.faulted, after.aborted, after.misdirected), (0, 0, 0));
        assert!(d.data_verified);
    }
    assert!(sharing, "the layout should put two devices in one L2 table");
    assert!(r.totals().aborted > 0);
}

#[test]
fn plan_is_deterministic_and_spread() {
    for table in [TableFormat::Linear, TableFormat::TwoLevel] {
        for devices in [1, 3, 8, 64] {
            let a = kdump::plan(table, devices, 42);
            assert_eq!(a, kdump::plan(table, devices, 42));
            assert_eq!(a.len(), devices);
            let mut sids: Vec<u32> = a.iter().map(|p| p.sid).collect();
            sids.dedup();
            assert_eq!(sids.len(), devices, "distinct, sorted StreamIDs");
            for kind in DeviceDomain::ALL {
                let n = a.iter().filter(|p| p.domain == kind).count();
                assert!(n == devices / 4 || n == devices / 4 + 1, "{kind:?}: {n}");
            }
            if table == TableFormat::TwoLevel && devices >= 2 {
                let mut l1: Vec<u32> = a.iter().map(|p| p.sid >> 8).collect();
                l1.dedup();
                assert!(l1.len() >= 2);
            }
        }
    }
    assert_ne!(
        kdump::plan(TableFormat::TwoLevel, 8, 1),
        kdump::plan(TableFormat::TwoLevel, 8, 2)
    );
}

#[test]
fn device_count_is_checked() {
    for devices in [0, kdump::MAX_DEVICES + 1] {
        let c = RunConfig {
            devices,
            ..RunConfig::new(Mode::Adopt, TableFormat::Linear)
        };
        assert!(kdump::run(&c, &mut |_| {}).is_err());
    }
}
