//! Adoption of a stream table left by a "previous kernel" (kdump.md §4, §5, §17): one test
//! per structural rule, each corrupting exactly that field of a valid layout and expecting
//! exactly that error; lazy L2 adoption; the scan; cleanup; non-coherent ordering.
//!
//! The previous kernel's tables are built by hand in the test memory (`TestMem::add_ram`
//! and `poke`), not with this crate.

mod common;

use common::{Event, POISON, RAM_BASE, TestMem, Walk, walk};
use smmu_regs::{PhysAddr, StreamId};
use smmu_strtab::{
    AdoptError, AdoptPolicy, Coherency, DefaultSte, EnsureError, Ensured, LookupError, MemoryError,
    ScanError, StreamTable, StreamTableCaps, Strictness,
};

const RA: u64 = 1 << 62;
const ABORT: [u64; 8] = [1, 0, 0, 0, 0, 0, 0, 0];
const BYPASS: [u64; 8] = [9, 1 << 44, 0, 0, 0, 0, 0, 0];

/// A stage-2 STE with a recognisable VMID.
fn s2_ste(vmid: u64) -> [u64; 8] {
    [
        0xd,
        1 << 44,
        vmid | (25 << 32) | (1 << 51),
        0x0002_0000_1000,
        0,
        0,
        0,
        0,
    ]
}

fn caps(sid_bits: u8) -> StreamTableCaps {
    StreamTableCaps {
        sid_bits,
        two_level: true,
        attr_types_ovr: true,
    }
}

fn spec() -> AdoptPolicy {
    AdoptPolicy::default()
}

fn linux() -> AdoptPolicy {
    AdoptPolicy {
        strictness: Strictness::Linux,
        ..AdoptPolicy::default()
    }
}

fn cfg(fmt: u32, split: u32, log2size: u32) -> u32 {
    (fmt << 16) | (split << 6) | log2size
}

/// A previous kernel's 2-level table: `num_l1` descriptors with SPLIT `split`; the listed
/// L1 indices get an L2 table of `span` whose STE `i` is `ste(l1, i)`.
struct Prev {
    l1: u64,
    l2: Vec<(usize, u64, u8)>,
    base: u64,
    cfg: u32,
}

fn prev_two_level(mem: &TestMem, split: u32, log2size: u32, l2s: &[(usize, u8)]) -> Prev {
    let num_l1 = 1usize << (log2size - split);
    let l1 = mem.add_ram(num_l1 * 8, (num_l1 * 8).max(64));
    let mut l2 = Vec::new();
    for &(index, span) in l2s {
        let bytes = 64usize << (span - 1);
        let pa = mem.add_ram(bytes, bytes);
        let words: Vec<u64> = (0..(1u64 << (span - 1)))
            .flat_map(|i| s2_ste(index as u64 * 1000 + i))
            .collect();
        mem.poke_words(pa, &words);
        mem.poke(l1 + 8 * index as u64, pa | u64::from(span));
        l2.push((index, pa, span));
    }
    Prev {
        l1,
        l2,
        base: l1 | RA,
        cfg: cfg(1, split, log2size),
    }
}

/// The Linux layout: SPLIT 8, LOG2SIZE 11 (8 L1 descriptors), L2s (Span 9) at 1 and 5.
fn prev_linux(mem: &TestMem) -> Prev {
    prev_two_level(mem, 8, 11, &[(1, 9), (5, 9)])
}

fn adopt<'m>(
    mem: &'m TestMem,
    caps: StreamTableCaps,
    base: u64,
    cfg: u32,
    policy: &AdoptPolicy,
) -> Result<StreamTable<&'m TestMem>, AdoptError> {
    let r = StreamTable::adopt(mem, caps, base, cfg, policy);
    if r.is_err() {
        assert_eq!(
            mem.live(),
            (0, 0),
            "a failed adoption leaves nothing mapped or allocated"
        );
    }
    r
}

#[track_caller]
fn expect_err(
    mem: &TestMem,
    caps: StreamTableCaps,
    base: u64,
    cfg: u32,
    policy: &AdoptPolicy,
    err: AdoptError,
) {
    assert_eq!(adopt(mem, caps, base, cfg, policy).map(|_| ()), Err(err));
}

// ---- baseline ----------------------------------------------------------------------------

#[test]
fn valid_linux_layout_is_adopted_under_both_policies() {
    for policy in [spec(), linux()] {
        let mem = TestMem::new(true);
        let p = prev_linux(&mem);
        mem.clear_events();
        let t = adopt(&mem, caps(16), p.base, p.cfg, &policy).unwrap();
        assert!(t.is_adopted());
        assert_eq!(t.geometry().log2size(), 11);
        assert_eq!(t.geometry().num_l1(), 8);
        // Only the L1 table is mapped; no L2 yet; the slot array is allocated.
        let ev = mem.events();
        assert_eq!(
            ev.iter().filter(|e| matches!(e, Event::Map { .. })).count(),
            1
        );
        assert_eq!(ev[0], Event::Map { pa: p.l1, len: 64 });
        assert_eq!(mem.mapped_bytes(), 64);
        // Lookups need the lazy step first.
        assert_eq!(
            t.ste(StreamId(300)).map(|_| ()).unwrap_err(),
            LookupError::NotPopulated { sid: StreamId(300) }
        );
        drop(t);
        assert_eq!(mem.live(), (0, 0));
    }
}

// ---- one test per rule -------------------------------------------------------------------

#[test]
fn rule_sid_bits_above_32() {
    let mem = TestMem::new(true);
    let p = prev_linux(&mem);
    expect_err(
        &mem,
        caps(33),
        p.base,
        p.cfg,
        &spec(),
        AdoptError::InvalidSidBits { sid_bits: 33 },
    );
}

#[test]
fn rule_reserved_format() {
    let mem = TestMem::new(true);
    let p = prev_linux(&mem);
    for fmt in [2u8, 3] {
        let bad = (p.cfg & !(3 << 16)) | (u32::from(fmt) << 16);
        expect_err(
            &mem,
            caps(16),
            p.base,
            bad,
            &spec(),
            AdoptError::ReservedFormat { fmt },
        );
    }
}

#[test]
fn rule_not_two_level_capable() {
    let mem = TestMem::new(true);
    let p = prev_linux(&mem);
    let c = StreamTableCaps {
        two_level: false,
        ..caps(16)
    };
    expect_err(
        &mem,
        c,
        p.base,
        p.cfg,
        &spec(),
        AdoptError::NotTwoLevelCapable,
    );
}

#[test]
fn rule_split_unsupported() {
    let mem = TestMem::new(true);
    let p = prev_linux(&mem);
    // 7 is not an architected SPLIT.
    let bad = (p.cfg & !(0x1f << 6)) | (7 << 6);
    expect_err(
        &mem,
        caps(16),
        p.base,
        bad,
        &spec(),
        AdoptError::SplitUnsupported { split: 7 },
    );
    // A valid SPLIT 6 layout is accepted by Spec and rejected by Linux strictness.
    let mem = TestMem::new(true);
    let p = prev_two_level(&mem, 6, 9, &[(2, 7)]);
    assert!(adopt(&mem, caps(16), p.base, p.cfg, &spec()).is_ok());
    expect_err(
        &mem,
        caps(16),
        p.base,
        p.cfg,
        &linux(),
        AdoptError::SplitUnsupported { split: 6 },
    );
}

#[test]
fn rule_log2size_below_split() {
    let mem = TestMem::new(true);
    let p = prev_linux(&mem);
    let bad = (p.cfg & !0x3f) | 7;
    expect_err(
        &mem,
        caps(16),
        p.base,
        bad,
        &spec(),
        AdoptError::Log2SizeBelowSplit {
            log2size: 7,
            split: 8,
        },
    );
}

#[test]
fn rule_log2size_above_sid_bits() {
    let mem = TestMem::new(true);
    let p = prev_linux(&mem);
    expect_err(
        &mem,
        caps(10),
        p.base,
        p.cfg,
        &spec(),
        AdoptError::Log2SizeAboveSidBits {
            log2size: 11,
            sid_bits: 10,
        },
    );
}

#[test]
fn rule_too_many_l1() {
    let mem = TestMem::new(true);
    let p = prev_linux(&mem);
    let policy = AdoptPolicy {
        max_l1: 4,
        ..spec()
    };
    expect_err(
        &mem,
        caps(16),
        p.base,
        p.cfg,
        &policy,
        AdoptError::TooManyL1 {
            num_l1: 8,
            max_l1: 4,
        },
    );
    // The Linux cap itself: LOG2SIZE 26 with SPLIT 8 is 2^18 descriptors.
    let bad = (p.cfg & !0x3f) | 26;
    expect_err(
        &mem,
        caps(32),
        p.base,
        bad,
        &linux(),
        AdoptError::TooManyL1 {
            num_l1: 1 << 18,
            max_l1: 1 << 17,
        },
    );
}

#[test]
fn rule_base_misaligned() {
    let mem = TestMem::new(true);
    // 64 L1 descriptors = 512 bytes: the base must be 512-byte aligned.
    let p = prev_two_level(&mem, 8, 14, &[(3, 9)]);
    let bad = p.base + 256;
    expect_err(
        &mem,
        caps(16),
        bad,
        p.cfg,
        &spec(),
        AdoptError::BaseMisaligned {
            base: PhysAddr(p.l1 + 256),
            align: 512,
        },
    );
    // ADDR is STRTAB_BASE[55:6]: bits below 64 are not part of the address, so a small
    // L1 table (8 descriptors = 64 bytes) cannot be misaligned.
    let p = prev_linux(&mem);
    assert!(adopt(&mem, caps(16), p.base | 0x20, p.cfg, &spec()).is_ok());
}

#[test]
fn rule_l1_span_invalid() {
    // Span 12 (reserved) and Span 10 (> SPLIT + 1) under Spec.
    for span in [12u8, 10, 31] {
        let mem = TestMem::new(true);
        let p = prev_linux(&mem);
        mem.poke(p.l1 + 8 * 3, 0x40_0000_0000 | u64::from(span));
        expect_err(
            &mem,
            caps(16),
            p.base,
            p.cfg,
            &spec(),
            AdoptError::L1SpanInvalid { index: 3, span },
        );
    }
    // Span 5 is valid for the spec but not for Linux.
    let mem = TestMem::new(true);
    let p = prev_two_level(&mem, 8, 11, &[(1, 9), (6, 5)]);
    assert!(adopt(&mem, caps(16), p.base, p.cfg, &spec()).is_ok());
    expect_err(
        &mem,
        caps(16),
        p.base,
        p.cfg,
        &linux(),
        AdoptError::L1SpanInvalid { index: 6, span: 5 },
    );
}

#[test]
fn rule_l1_null_l2_pointer() {
    let mem = TestMem::new(true);
    let p = prev_linux(&mem);
    mem.poke(p.l1 + 8 * 5, 9);
    expect_err(
        &mem,
        caps(16),
        p.base,
        p.cfg,
        &spec(),
        AdoptError::L1NullL2Ptr { index: 5 },
    );
}

#[test]
fn rule_l2_misaligned() {
    let mem = TestMem::new(true);
    let p = prev_linux(&mem);
    let (_, l2, _) = p.l2[1];
    mem.poke(p.l1 + 8 * 5, (l2 + 0x1000) | 9);
    expect_err(
        &mem,
        caps(16),
        p.base,
        p.cfg,
        &spec(),
        AdoptError::L2Misaligned {
            index: 5,
            l2ptr: PhysAddr(l2 + 0x1000),
        },
    );
    // Under Spec a smaller Span needs a smaller alignment: 0x1000 is enough for Span 7
    // (64 STEs = 4 KB).
    mem.poke(p.l1 + 8 * 5, (l2 + 0x1000) | 7);
    assert!(adopt(&mem, caps(16), p.base, p.cfg, &spec()).is_ok());
}

#[test]
fn rule_mapping_failure() {
    let mem = TestMem::new(true);
    let p = prev_linux(&mem);
    mem.set_fail_maps(true);
    expect_err(
        &mem,
        caps(16),
        p.base,
        p.cfg,
        &spec(),
        AdoptError::Map(MemoryError::MapFailed),
    );
    mem.set_fail_maps(false);
    // A base that is not RAM at all.
    expect_err(
        &mem,
        caps(16),
        0x1000_0000,
        p.cfg,
        &spec(),
        AdoptError::Map(MemoryError::MapFailed),
    );
}

#[test]
fn rule_slot_array_allocation_failure() {
    let mem = TestMem::new(true);
    let p = prev_linux(&mem);
    mem.set_alloc_budget(Some(0));
    expect_err(
        &mem,
        caps(16),
        p.base,
        p.cfg,
        &spec(),
        AdoptError::Alloc(MemoryError::NoMemory),
    );
}

// ---- linear ------------------------------------------------------------------------------

fn prev_linear(mem: &TestMem, log2size: u32) -> (u64, u32) {
    let bytes = 64usize << log2size;
    let pa = mem.add_ram(bytes, bytes);
    let words: Vec<u64> = (0..(1u64 << log2size))
        .flat_map(|sid| if sid % 3 == 0 { s2_ste(sid + 1) } else { ABORT })
        .collect();
    mem.poke_words(pa, &words);
    (pa | RA, cfg(0, 0, log2size))
}

#[test]
fn linear_rules() {
    let mem = TestMem::new(true);
    let (base, c) = prev_linear(&mem, 5);
    // Valid.
    let t = adopt(&mem, caps(16), base, c, &linux()).unwrap();
    assert_eq!(t.geometry().split(), None);
    assert_eq!(t.ste(StreamId(3)).unwrap().read().unwrap(), s2_ste(4));
    assert_eq!(
        t.ste(StreamId(32)).map(|_| ()),
        Err(LookupError::OutOfRange {
            sid: StreamId(32),
            log2size: 5
        })
    );
    drop(t);
    // LOG2SIZE above SIDSIZE.
    expect_err(
        &mem,
        caps(4),
        base,
        c,
        &spec(),
        AdoptError::Log2SizeAboveSidBits {
            log2size: 5,
            sid_bits: 4,
        },
    );
    // Linux: 25 on a 2-level capable SMMU; Spec: 31.
    let big = cfg(0, 0, 26);
    expect_err(
        &mem,
        caps(32),
        base,
        big,
        &linux(),
        AdoptError::Log2SizeAboveLimit {
            log2size: 26,
            limit: 25,
        },
    );
    let huge = cfg(0, 0, 32);
    expect_err(
        &mem,
        caps(32),
        base,
        huge,
        &spec(),
        AdoptError::Log2SizeAboveLimit {
            log2size: 32,
            limit: 31,
        },
    );
    // Without 2-level support Linux's cap is 31 too: 26 passes the size rules and fails on
    // the mapping (the test RAM is small).
    let c2 = StreamTableCaps {
        two_level: false,
        ..caps(32)
    };
    expect_err(
        &mem,
        c2,
        RAM_BASE | RA,
        big,
        &linux(),
        AdoptError::Map(MemoryError::MapFailed),
    );
    // Base not aligned to the table size (2 KB).
    expect_err(
        &mem,
        caps(16),
        base + 1024,
        c,
        &spec(),
        AdoptError::BaseMisaligned {
            base: PhysAddr((base & !RA) + 1024),
            align: 2048,
        },
    );
}

// ---- lazy L2 -----------------------------------------------------------------------------

fn snapshot(mem: &TestMem, pa: u64, bytes: u64) -> Vec<u64> {
    mem.peek_words(pa, (bytes / 8) as usize).unwrap()
}

#[test]
fn lazy_adoption_maps_existing_l2_untouched() {
    let mem = TestMem::new(true);
    let p = prev_linux(&mem);
    let (_, l2, _) = p.l2[0];
    let l1_before = snapshot(&mem, p.l1, 64);
    let l2_before = snapshot(&mem, l2, 16384);
    let mut t = adopt(&mem, caps(16), p.base, p.cfg, &linux()).unwrap();
    mem.clear_events();
    // SID 0x107: L1 index 1, STE 7.
    assert_eq!(t.ensure_sid(StreamId(0x107)), Ok(Ensured::AdoptedL2));
    assert_eq!(mem.events(), [Event::Map { pa: l2, len: 16384 }]);
    assert_eq!(
        t.ste(StreamId(0x107)).unwrap().read().unwrap(),
        s2_ste(1007)
    );
    assert_eq!(
        t.ste(StreamId(0x1ff)).unwrap().read().unwrap(),
        s2_ste(1255)
    );
    // Again: nothing to do.
    assert_eq!(t.ensure_sid(StreamId(0x100)), Ok(Ensured::Present));
    assert_eq!(
        snapshot(&mem, p.l1, 64),
        l1_before,
        "the L1 table was not written"
    );
    assert_eq!(
        snapshot(&mem, l2, 16384),
        l2_before,
        "the adopted STEs were not written"
    );
    drop(t);
    assert_eq!(mem.live(), (0, 0));
    assert!(mem.events().contains(&Event::Unmap { pa: l2, len: 16384 }));
}

#[test]
fn lazy_unused_range_gets_a_fresh_default_l2() {
    for (default, words) in [(DefaultSte::Abort, ABORT), (DefaultSte::Bypass, BYPASS)] {
        let mem = TestMem::new(true);
        let p = prev_linux(&mem);
        let policy = AdoptPolicy {
            default_ste: default,
            ..linux()
        };
        let mut t = adopt(&mem, caps(16), p.base, p.cfg, &policy).unwrap();
        // SID 0x2a0: L1 index 2 has Span 0.
        assert_eq!(walk(&mem, p.base, p.cfg, 16, 0x2a0), Walk::OutOfRange);
        mem.clear_events();
        assert_eq!(t.ensure_sid(StreamId(0x2a0)), Ok(Ensured::NewL2));
        let ev = mem.events();
        let Event::Alloc {
            pa: l2,
            len: 16384,
            align: 16384,
        } = ev[0]
        else {
            panic!("{ev:?}")
        };
        assert_eq!(
            mem.peek(p.l1 + 16),
            Some(l2 | 9),
            "L1 descriptor published with Span 9"
        );
        // Every StreamID of the range (a sample under Miri).
        for sid in (0x200..0x300).step_by(if cfg!(miri) { 15 } else { 1 }) {
            assert_eq!(walk(&mem, p.base, p.cfg, 16, sid), Walk::Ste(words));
            assert_eq!(t.ste(StreamId(sid)).unwrap().read().unwrap(), words);
        }
        drop(t);
        assert_eq!(mem.live(), (0, 0));
    }
}

#[test]
fn lazy_bad_descriptor_rejects_only_its_range() {
    let mem = TestMem::new(true);
    let p = prev_linux(&mem);
    let mut t = adopt(&mem, caps(16), p.base, p.cfg, &linux()).unwrap();
    // The descriptor is corrupted after adoption (e.g. by a rogue DMA): re-validated.
    let (_, l2, _) = p.l2[1];
    mem.poke(p.l1 + 8 * 5, l2 | 8);
    assert_eq!(
        t.ensure_sid(StreamId(0x510)),
        Err(EnsureError::L1SpanInvalid { index: 5, span: 8 })
    );
    mem.poke(p.l1 + 8 * 5, 9);
    assert_eq!(
        t.ensure_sid(StreamId(0x510)),
        Err(EnsureError::L1NullL2Ptr { index: 5 })
    );
    mem.poke(p.l1 + 8 * 5, (l2 + 64) | 9);
    assert_eq!(
        t.ensure_sid(StreamId(0x510)),
        Err(EnsureError::L2Misaligned {
            index: 5,
            l2ptr: PhysAddr(l2 + 64)
        })
    );
    mem.set_fail_maps(true);
    mem.poke(p.l1 + 8 * 5, l2 | 9);
    assert_eq!(
        t.ensure_sid(StreamId(0x510)),
        Err(EnsureError::Map(MemoryError::MapFailed))
    );
    mem.set_fail_maps(false);
    assert_eq!(
        t.ste(StreamId(0x510)).map(|_| ()),
        Err(LookupError::NotPopulated {
            sid: StreamId(0x510)
        })
    );
    // Other ranges are unaffected.
    assert_eq!(t.ensure_sid(StreamId(0x101)), Ok(Ensured::AdoptedL2));
    assert_eq!(t.ensure_sid(StreamId(0x001)), Ok(Ensured::NewL2));
    // Out of range entirely.
    assert_eq!(
        t.ensure_sid(StreamId(0x800)),
        Err(EnsureError::OutOfRange {
            sid: StreamId(0x800),
            log2size: 11
        })
    );
    // Once repaired, the range adopts.
    assert_eq!(t.ensure_sid(StreamId(0x510)), Ok(Ensured::AdoptedL2));
    assert_eq!(
        t.ste(StreamId(0x510)).unwrap().read().unwrap(),
        s2_ste(5016)
    );
}

#[test]
fn lazy_fresh_l2_allocation_failure_is_reported() {
    let mem = TestMem::new(true);
    let p = prev_linux(&mem);
    let mut t = adopt(&mem, caps(16), p.base, p.cfg, &linux()).unwrap();
    mem.set_alloc_budget(Some(0));
    assert_eq!(
        t.ensure_sid(StreamId(0x0)),
        Err(EnsureError::Alloc(MemoryError::NoMemory))
    );
    assert_eq!(mem.peek(p.l1), Some(0), "nothing published");
}

#[test]
fn spec_layouts_split_6_and_10_and_small_l2_tables() {
    // SPLIT 10, one 64 KB L2 (Span 11) and one 4-STE L2 (Span 3).
    let mem = TestMem::new(true);
    let p = prev_two_level(&mem, 10, 12, &[(0, 11), (2, 3)]);
    let mut t = adopt(&mem, caps(12), p.base, p.cfg, &spec()).unwrap();
    assert_eq!(t.ensure_sid(StreamId(1023)), Ok(Ensured::AdoptedL2));
    assert_eq!(t.ste(StreamId(1023)).unwrap().read().unwrap(), s2_ste(1023));
    assert_eq!(t.ensure_sid(StreamId(2048 + 3)), Ok(Ensured::AdoptedL2));
    assert_eq!(
        t.ste(StreamId(2048 + 3)).unwrap().read().unwrap(),
        s2_ste(2003)
    );
    // Beyond the 4 STEs of the small L2: the SMMU treats it as out of range too.
    assert_eq!(walk(&mem, p.base, p.cfg, 12, 2048 + 4), Walk::OutOfRange);
    assert_eq!(
        t.ste(StreamId(2048 + 4)).map(|_| ()),
        Err(LookupError::BeyondSpan {
            sid: StreamId(2052),
            span: 3
        })
    );
    assert_eq!(
        t.ensure_sid(StreamId(2048 + 4)),
        Err(EnsureError::BeyondSpan {
            sid: StreamId(2052),
            span: 3
        })
    );
    // A Span-0 range gets a full fresh L2 (Span 11).
    assert_eq!(t.ensure_sid(StreamId(1024 + 5)), Ok(Ensured::NewL2));
    assert_eq!(mem.peek(p.l1 + 8).map(|d| d & 0x1f), Some(11));
    drop(t);
    assert_eq!(mem.live(), (0, 0));

    // SPLIT 6.
    let mem = TestMem::new(true);
    let p = prev_two_level(&mem, 6, 8, &[(3, 7)]);
    let mut t = adopt(&mem, caps(8), p.base, p.cfg, &spec()).unwrap();
    assert_eq!(t.ensure_sid(StreamId(3 * 64 + 9)), Ok(Ensured::AdoptedL2));
    assert_eq!(
        t.ste(StreamId(3 * 64 + 9)).unwrap().read().unwrap(),
        s2_ste(3009)
    );
}

// ---- scan --------------------------------------------------------------------------------

#[test]
fn scan_reports_every_valid_ste_and_every_failure() {
    let mem = TestMem::new(true);
    let p = prev_linux(&mem);
    let mut t = adopt(&mem, caps(16), p.base, p.cfg, &linux()).unwrap();
    assert_eq!(t.ensure_sid(StreamId(0x100)), Ok(Ensured::AdoptedL2));
    let mapped = mem.mapped_bytes();
    let mut seen = Vec::new();
    t.for_each_valid_ste(|sid, ste| {
        seen.push((sid.0, *ste));
        Ok::<(), ()>(())
    })
    .unwrap();
    let expected: Vec<(u32, [u64; 8])> = [1u32, 5]
        .iter()
        .flat_map(|&l1| {
            (0..256u32).map(move |i| ((l1 << 8) + i, s2_ste(u64::from(l1) * 1000 + u64::from(i))))
        })
        .collect();
    assert_eq!(seen, expected);
    assert_eq!(
        mem.mapped_bytes(),
        mapped,
        "temporary mappings are released"
    );

    // The callback's error stops the scan.
    let r = t.for_each_valid_ste(|sid, _| if sid.0 == 0x105 { Err(7) } else { Ok(()) });
    assert_eq!(r, Err(ScanError::Callback(7)));
    // A bad descriptor in an unmapped range is reported, not skipped.
    mem.poke(p.l1 + 8 * 5, 0x40_0000_0000 | 12);
    let r = t.for_each_valid_ste(|_, _| Ok::<(), ()>(()));
    assert_eq!(
        r,
        Err(ScanError::Range {
            index: 5,
            error: EnsureError::L1SpanInvalid { index: 5, span: 12 }
        })
    );
    let (_, l2, _) = p.l2[1];
    mem.poke(p.l1 + 8 * 5, l2 | 9);
    mem.set_fail_maps(true);
    let r = t.for_each_valid_ste(|_, _| Ok::<(), ()>(()));
    assert_eq!(
        r,
        Err(ScanError::Range {
            index: 5,
            error: EnsureError::Map(MemoryError::MapFailed)
        })
    );
}

// ---- garbage -----------------------------------------------------------------------------

#[test]
#[cfg_attr(miri, ignore = "2^17 descriptors: too slow under Miri")]
fn garbage_l1_is_rejected_mapping_only_the_l1() {
    let mem = TestMem::new(true);
    let num_l1 = 1usize << 17;
    let l1 = mem.add_ram(num_l1 * 8, num_l1 * 8);
    // Deterministic pseudo-random descriptors: random spans and pointers everywhere.
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let garbage: Vec<u64> = (0..num_l1)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x | 1
        })
        .collect();
    mem.poke_words(l1, &garbage);
    mem.clear_events();
    let r = adopt(&mem, caps(32), l1, cfg(1, 8, 25), &spec());
    assert!(
        matches!(
            r,
            Err(AdoptError::L1SpanInvalid { .. }
                | AdoptError::L1NullL2Ptr { .. }
                | AdoptError::L2Misaligned { .. })
        ),
        "{:?}",
        r.map(|_| ())
    );
    let maps: Vec<Event> = mem
        .events()
        .into_iter()
        .filter(|e| matches!(e, Event::Map { .. }))
        .collect();
    assert_eq!(
        maps,
        [Event::Map {
            pa: l1,
            len: num_l1 * 8
        }],
        "only the L1 table was mapped"
    );

    // Every descriptor valid-looking but pointing nowhere: still only the L1 is mapped at
    // adoption, and each lazy attempt maps at most one L2 (and fails cleanly).
    let pointing_nowhere: Vec<u64> = (0..num_l1 as u64)
        .map(|i| (0x7000_0000_0000 + (i << 14)) | 9)
        .collect();
    mem.poke_words(l1, &pointing_nowhere);
    mem.clear_events();
    let mut t = adopt(&mem, caps(32), l1, cfg(1, 8, 25), &linux()).unwrap();
    assert_eq!(mem.mapped_bytes(), num_l1 * 8);
    assert_eq!(
        t.ensure_sid(StreamId(0x1234_5678 & 0x1ff_ffff)),
        Err(EnsureError::Map(MemoryError::MapFailed))
    );
    assert_eq!(mem.mapped_bytes(), num_l1 * 8);
    drop(t);
    assert_eq!(mem.live(), (0, 0));
}

// ---- non-coherent ------------------------------------------------------------------------

#[test]
fn non_coherent_adoption_invalidates_before_reading_and_cleans_before_publishing() {
    let mem = TestMem::new(false);
    let p = prev_linux(&mem);
    // The CPU's view of the previous kernel's memory is stale until invalidated.
    let policy = AdoptPolicy {
        coherency: Coherency::NonCoherent,
        ..linux()
    };
    let mut t = adopt(&mem, caps(16), p.base, p.cfg, &policy).unwrap();
    let ev = mem.events();
    assert_eq!(
        ev[..2],
        [
            Event::Map { pa: p.l1, len: 64 },
            Event::Invalidate { pa: p.l1, len: 64 }
        ]
    );

    // Without the invalidation the same adoption reads stale data and fails.
    let coherent_policy = AdoptPolicy {
        coherency: Coherency::Coherent,
        ..linux()
    };
    let mem2 = TestMem::new(false);
    let p2 = prev_linux(&mem2);
    assert_eq!(
        adopt(&mem2, caps(16), p2.base, p2.cfg, &coherent_policy).map(|_| ()),
        Err(AdoptError::L1SpanInvalid {
            index: 0,
            span: (POISON & 0x1f) as u8
        })
    );

    // Lazy adoption: map, invalidate, then read.
    mem.clear_events();
    let (_, l2, _) = p.l2[0];
    assert_eq!(t.ensure_sid(StreamId(0x120)), Ok(Ensured::AdoptedL2));
    assert_eq!(
        mem.events(),
        [
            Event::Invalidate {
                pa: p.l1 + 8,
                len: 8
            },
            Event::Map { pa: l2, len: 16384 },
            Event::Invalidate { pa: l2, len: 16384 }
        ]
    );
    assert_eq!(
        t.ste(StreamId(0x120)).unwrap().read().unwrap(),
        s2_ste(1032)
    );

    // Fresh L2: initialise, clean the L2, publish, clean the descriptor.
    mem.clear_events();
    assert_eq!(t.ensure_sid(StreamId(0x300)), Ok(Ensured::NewL2));
    let ev = mem.events();
    let Event::Alloc { pa: new_l2, .. } = ev[1] else {
        panic!("{ev:?}")
    };
    assert_eq!(
        ev[0],
        Event::Invalidate {
            pa: p.l1 + 24,
            len: 8
        }
    );
    assert_eq!(
        ev[2..],
        [
            Event::Clean {
                pa: new_l2,
                len: 16384
            },
            Event::Clean {
                pa: p.l1 + 24,
                len: 8
            }
        ]
    );
    // The device sees the published descriptor and the initialised STEs.
    assert_eq!(walk(&mem, p.base, p.cfg, 16, 0x3ff), Walk::Ste(ABORT));
}
