//! Many masters on a 2-level stream table: memory grows with the populated L2 tables,
//! not with the StreamID space.

mod common;

use std::collections::BTreeSet;
use std::sync::Arc;

use common::{device, small};
use iommu_core::{DeviceDesc, DeviceId, DomainId, DomainKind, IommuDriver, StreamId};
use smmu_testbed::Testbed;
use smmu_testbed::smmu_model::{Access, ExpectedMapping, Ledger, ModelConfig, Outcome};
use smmu_v3_driver::Error;

const DEVICES: u32 = 4096;
const SID_BITS: u32 = 24;

/// Device `i`'s StreamID: 256 clusters of 16 devices spread over the 2^24 StreamIDs.
fn sid(i: u32) -> u32 {
    (i / 16) * 0x1_0000 + (i % 16) * 16 + (i / 16) % 7
}

#[test]
fn four_thousand_devices_over_a_sparse_streamid_space() {
    let tb = Testbed::new(ModelConfig::default().sid_bits(SID_BITS));
    let mut smmu = tb.driver(&small()).unwrap();
    let before = tb.hal.alloc_stats();
    let sids: Vec<[StreamId; 1]> = (0..DEVICES).map(|i| [StreamId(sid(i))]).collect();
    let desc = |i: u32| DeviceDesc::new(DeviceId(i), &sids[i as usize]);
    for i in 0..DEVICES {
        smmu.probe_device(desc(i)).unwrap();
    }
    assert_eq!(smmu.probed_devices(), DEVICES as usize);

    // Spec §3: one L2 table per distinct SID[LOG2SIZE-1:SPLIT] (SPLIT = 8).
    let ranges: BTreeSet<u32> = (0..DEVICES).map(|i| sid(i) >> 8).collect();
    assert_eq!(ranges.len(), 256);
    let after = tb.hal.alloc_stats();
    let l2 = 256 * 64; // 256 STEs of 64 bytes, aligned to their size
    assert_eq!(
        after.live_with(l2, l2) - before.live_with(l2, l2),
        ranges.len()
    );
    // The hardware's view agrees: exactly those L1 descriptors are valid, with
    // Span = SPLIT + 1 = 9 (read from memory through STRTAB_BASE).
    let cfg = tb.smmu.read32(0x88);
    assert_eq!(cfg, (1 << 16) | (8 << 6) | SID_BITS);
    let l1 = tb.smmu.read64(0x80) & 0x00ff_ffff_ffff_ffc0;
    let mut valid = BTreeSet::new();
    for idx in 0..(1u64 << (SID_BITS - 8)) {
        let desc = tb.mem.read_u64(l1 + 8 * idx).unwrap();
        if desc & 0x1f != 0 {
            assert_eq!(desc & 0x1f, 9);
            valid.insert(idx as u32);
        }
    }
    assert_eq!(valid, ranges);
    // Memory grew by the L2 tables (plus the stream table's CPU-side bookkeeping for
    // them, which is smaller): a fully populated table would take 2^16 L2 tables (1 GiB),
    // a linear one 2^24 × 64 bytes (1 GiB).
    let grown = after.live_bytes() - before.live_bytes();
    assert!(grown >= ranges.len() * l2);
    assert!(grown < 2 * ranges.len() * l2, "{grown} bytes");
    assert!(after.live_bytes() < 8 << 20, "{} bytes", after.live_bytes());

    // Out of range and duplicate StreamIDs are refused with typed errors.
    let far = [StreamId(1 << SID_BITS)];
    assert_eq!(
        smmu.probe_device(DeviceDesc::new(DeviceId(DEVICES), &far)),
        Err(Error::StreamIdOutOfRange {
            sid: smmu_regs::StreamId(1 << SID_BITS),
            sid_bits: SID_BITS as u8
        })
    );
    let dup = [StreamId(0x9_0000), StreamId(sid(1234))];
    assert_eq!(
        smmu.probe_device(DeviceDesc::new(DeviceId(DEVICES), &dup)),
        Err(Error::DuplicateStreamId {
            sid: smmu_regs::StreamId(sid(1234)),
            owner: DeviceId(1234)
        })
    );
    let twice = [StreamId(0xff_0001), StreamId(0xff_0001)];
    assert!(matches!(
        smmu.probe_device(DeviceDesc::new(DeviceId(DEVICES), &twice)),
        Err(Error::DuplicateStreamId { .. })
    ));

    // Every device gets a working STE: one identity domain shared by all of them.
    let mut identity = smmu
        .domain_alloc(DomainId(1), DomainKind::Identity, desc(0))
        .unwrap();
    for i in 0..DEVICES {
        smmu.attach_device(desc(i), &mut identity, None).unwrap();
    }
    assert_eq!(identity.users(), DEVICES);
    let buf = tb.alloc_buffer(4096);
    let ledger = Arc::new(Ledger::new());
    let mapping = Arc::new(ExpectedMapping::identity());
    for i in (0..DEVICES).step_by(97) {
        let d = device(&tb, "d", sid(i), &ledger, &mapping);
        assert_eq!(
            d.issue(Access::Write, buf + 8, 8, u64::from(i)),
            Outcome::Completed { pa: buf + 8 }
        );
    }
    // A StreamID nobody owns in a populated range is aborted silently (the default abort
    // STE); one in a range without an L2 table is out of range: C_BAD_STREAMID (0x02),
    // recorded because the driver sets CR2.RECINVSID (spec §3).
    let stray = device(&tb, "stray", sid(0) + 1, &ledger, &mapping);
    assert_eq!(stray.issue(Access::Write, buf, 8, 0), Outcome::Aborted);
    let lost = device(&tb, "lost", 0x80_8000, &ledger, &mapping);
    assert!(!ranges.contains(&(0x80_8000 >> 8)));
    assert!(matches!(
        lost.issue(Access::Write, buf, 8, 0),
        Outcome::Faulted { event, .. } if event.0 == 0x02
    ));
    for i in 0..DEVICES {
        smmu.release_device(desc(i), Some(&mut identity));
    }
    assert_eq!(smmu.probed_devices(), 0);
    smmu.domain_free(identity);
}
