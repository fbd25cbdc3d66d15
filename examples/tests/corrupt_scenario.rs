//! Every corruption of the `corrupt-table` program reaches the outcome kdump.md gives
//! it. The expected reasons are written down here from the rules (§4.2–§4.5: structural
//! checks of the registers and L1 descriptors; §6: the ASID / VMID scan; §5: a bad L1
//! descriptor found at device insert fails only that device), with the scenario's
//! geometry: device A at StreamID 0x10 (L1 index 0, stage 1), device B at 0x310 (L1
//! index 3, stage 2), a 2-level table with SPLIT 8 and LOG2SIZE 16 on an SMMU with 16
//! StreamID bits and 8 SubstreamID bits, so 256 L1 descriptors (a 2 KiB L1 table).

use smmu_examples::corrupt::{self, CorruptReport, Corruption, SID_A, SID_B};
use smmu_regs::StreamId;
use smmu_strtab::{AdoptError, EnsureError};
use smmu_v3_driver::{
    AdoptSource, AdoptionOutcome, Diagnostic, Error, FallbackReason, ScanFailure,
};

fn run(c: Corruption) -> CorruptReport {
    corrupt::run(c, &mut |_| {}).unwrap()
}

/// The reason kdump.md gives for `c`, as a predicate (some payloads, such as the
/// corrupted base address, are not known in advance).
fn expected(c: Corruption, reason: &FallbackReason) -> bool {
    let a = StreamId(SID_A);
    let b = StreamId(SID_B);
    match c {
        // §4.4: reserved FMT.
        Corruption::BadStrtabBaseCfg => {
            *reason == FallbackReason::Table(AdoptError::ReservedFormat { fmt: 2 })
        }
        // §4.2 step 2: LOG2SIZE 17 > SIDSIZE 16.
        Corruption::Log2SizeAboveSidSize => {
            *reason
                == FallbackReason::Table(AdoptError::Log2SizeAboveSidBits {
                    log2size: 17,
                    sid_bits: 16,
                })
        }
        // §4.2 step 3: SPLIT 7 ≠ 8.
        Corruption::SplitNot8 => {
            *reason == FallbackReason::Table(AdoptError::SplitUnsupported { split: 7 })
        }
        // §4.2 step 5: aligned to max(256 × 8, 64) = 2048 bytes.
        Corruption::BaseMisaligned => matches!(
            reason,
            FallbackReason::Table(AdoptError::BaseMisaligned { base, align: 2048 })
                if base.0 % 2048 == 0x40
        ),
        // §4.2 step 8, on B's descriptor (index 3).
        Corruption::L1SpanTooBig => {
            *reason == FallbackReason::Table(AdoptError::L1SpanInvalid { index: 3, span: 12 })
        }
        Corruption::L1NullL2 => {
            *reason == FallbackReason::Table(AdoptError::L1NullL2Ptr { index: 3 })
        }
        Corruption::L1L2Misaligned => matches!(
            reason,
            FallbackReason::Table(AdoptError::L2Misaligned { index: 3, l2ptr })
                if l2ptr.0 % 0x4000 == 0x1000
        ),
        // §4.5 + §6: not range-checked, but the scan's mapping of L2 table 3 fails.
        Corruption::L1AddressOutOfRange => matches!(
            reason,
            FallbackReason::Scan(ScanFailure::StreamRange {
                index: 3,
                error: EnsureError::Map(_)
            })
        ),
        // §6, per STE.
        Corruption::SteBadConfig => {
            *reason == FallbackReason::Scan(ScanFailure::ReservedConfig { sid: b, config: 1 })
        }
        Corruption::SteNullContext => {
            *reason == FallbackReason::Scan(ScanFailure::NullContextPtr { sid: a })
        }
        Corruption::SteCdMaxTooBig => {
            *reason
                == FallbackReason::Scan(ScanFailure::CdMaxTooLarge {
                    sid: a,
                    cdmax: 9,
                    ssid_bits: 8,
                })
        }
        Corruption::CdAsidZero => {
            *reason == FallbackReason::Scan(ScanFailure::BadAsid { sid: a, asid: 0 })
        }
        Corruption::SteVmidZero => {
            *reason == FallbackReason::Scan(ScanFailure::BadVmid { sid: b, vmid: 0 })
        }
        Corruption::L1CorruptedAfterAdoption => false,
    }
}

#[test]
fn every_corruption_falls_back_with_its_reason() {
    for c in Corruption::ALL {
        if c == Corruption::L1CorruptedAfterAdoption {
            continue;
        }
        let r = run(c);
        let Some(reason) = r.fallback_reason() else {
            panic!("{c}: {:?}", r.adoption);
        };
        assert!(expected(c, &reason), "{c}: {reason:?}");
        // §4.5: the driver says so, then runs the full reset.
        assert!(
            r.diagnostics
                .contains(&Diagnostic::AdoptionFallback { reason }),
            "{c}: {:?}",
            r.diagnostics
        );
        assert!(r.diagnostics.contains(&Diagnostic::EnabledAtReset), "{c}");
        for d in &r.devices {
            // After a full reset nothing is live, so nothing is deferred; the new
            // domains are empty until the drivers map, so the in-flight DMA fails.
            assert_eq!(d.probe, Ok(false), "{c} sid {:#x}", d.sid);
            let h = d.counts.during_handover;
            assert!(h.faulted + h.aborted > 0, "{c} sid {:#x}: {h:?}", d.sid);
            assert_eq!(h.misdirected, 0, "{c}");
            // Each driver maps new buffers and its DMA works again.
            assert!(d.reattached, "{c} sid {:#x}", d.sid);
            let after = d.counts.after_reattach;
            assert!(after.completed > 0);
            assert_eq!((after.faulted, after.aborted, after.misdirected), (0, 0, 0));
        }
    }
}

#[test]
fn corruption_after_adoption_rejects_one_device() {
    let r = run(Corruption::L1CorruptedAfterAdoption);
    assert_eq!(
        r.adoption,
        AdoptionOutcome::Adopted {
            source: AdoptSource::Kdump
        }
    );
    let [a, b] = &r.devices[..] else {
        panic!("two devices");
    };
    // A is untouched: deferred, clean throughout, re-attached by its first DMA map.
    assert_eq!((a.sid, a.probe), (SID_A, Ok(true)));
    for c in a.counts.phases() {
        assert_eq!((c.faulted, c.aborted, c.misdirected), (0, 0, 0), "{c:?}");
    }
    assert!(a.reattached);
    // B's probe fails on its L1 descriptor (index 3, now a null L2 pointer).
    assert_eq!(b.sid, SID_B);
    assert_eq!(
        b.probe,
        Err(iommu_core::Error::Driver(Error::AdoptedL2Rejected {
            sid: StreamId(SID_B),
            error: EnsureError::L1NullL2Ptr { index: 3 },
        }))
    );
    assert!(!b.reattached);
    assert_eq!(b.counts.after_reattach.total(), 0);
}

#[test]
fn names_round_trip() {
    for c in Corruption::ALL {
        assert_eq!(Corruption::from_name(c.name()), Some(c));
        assert!(!c.what().is_empty() && c.rule().starts_with('§'));
    }
    assert_eq!(Corruption::from_name("nope"), None);
}
