//! CD table tests: layouts (spec smmuv3.md §2.5, §2.6), lazy leaves and the order in which
//! they are published, CD updates through the hitless writer with the sync counts of spec
//! §8 (Linux kunit `write_cd_test_s1_clear`, `write_cd_test_s1_change_asid`), and the
//! stage 1 CD builder. Expected values are written by hand from the spec tables.

mod common_mem;

use common_mem::{Event, TestMem};
use smmu_regs::cd::{Cd, CdCheckCaps, CdStreamContext};
use smmu_regs::ste::{S1Dss, S1Fmt, Ste, SteCheckCaps, StreamWorld};
use smmu_regs::{AddressSize, Asid, Cacheability, Granule, PhysAddr, Shareability, SubstreamId};
use smmu_strtab::{Coherency, WriteError, WriteReport, WriteStep, cd_used};
use smmu_v3_driver::cdtab::{CdTable, CdTableError, CdWriteError, Stage1CdOptions, stage1_cd};
use smmu_v3_driver::pgtable::{Aarch64PageTable, MAIR, PageTableConfig, PageTableParams, Stage};

/// The L1CD L2Ptr field, bits [55:12].
const L2PTR_MASK: u64 = 0x00ff_ffff_ffff_f000;

fn mem() -> TestMem {
    TestMem::new(512 << 10)
}

fn ssid(n: u32) -> SubstreamId {
    SubstreamId(n)
}

/// A valid stage 1 CD (V, AA64, EPD1, T0SZ = 16, ASID, TTB0, MAIR).
fn s1_cd(asid: u16, ttb0: u64) -> Cd {
    Cd::from_words([
        (u64::from(asid) << 48) | (1 << 41) | (1 << 31) | (1 << 30) | 16,
        ttb0,
        0,
        0x44_04ff,
        0,
        0,
        0,
        0,
    ])
}

fn no_sync() -> impl FnMut(WriteStep) -> Result<(), ()> {
    |_| Ok(())
}

fn release(t: CdTable, mem: &TestMem) {
    // SAFETY: no SMMU reads the test tables.
    unsafe { t.release(mem) };
    assert_eq!(mem.live(), 0);
}

/// Reads the CD of `ssid` the way the SMMU does, from S1ContextPtr / S1Fmt / S1CDMax
/// (spec §2.6), through `read`.
fn smmu_cd(read: impl Fn(u64) -> u64, t: &CdTable, ssid: u32) -> Option<[u64; 8]> {
    assert!(ssid >> t.s1cdmax() == 0);
    let cd_pa = match t.s1fmt() {
        S1Fmt::TwoLevel64K => {
            let l1 = read(t.base().0 + u64::from(ssid >> 10) * 8);
            if l1 & 1 == 0 {
                return None;
            }
            (l1 & L2PTR_MASK) + u64::from(ssid & 1023) * 64
        }
        _ => t.base().0 + u64::from(ssid) * 64,
    };
    Some(std::array::from_fn(|i| read(cd_pa + i as u64 * 8)))
}

#[test]
fn single_cd_without_substreams() {
    let mem = mem();
    mem.start_log();
    let mut t = CdTable::new(&mem, 0, true, Coherency::Coherent).unwrap();
    let log = mem.take_log();
    assert_eq!(
        log,
        [Event::Alloc {
            pa: t.base().0,
            len: 64
        }]
    );
    assert_eq!(
        (t.s1fmt(), t.s1cdmax(), t.is_two_level()),
        (S1Fmt::Linear, 0, false)
    );
    assert_eq!(t.base().0 % 64, 0);
    let cd = s1_cd(3, 0x4000_0000);
    t.write_cd(&mem, ssid(0), &cd, &mut no_sync()).unwrap();
    assert_eq!(smmu_cd(|a| mem.read(a), &t, 0), Some(*cd.words()));
    assert_eq!(t.read_cd(ssid(0)), Some(*cd.words()));
    assert_eq!(t.cd_pa(ssid(0)), Some(t.base()));
    assert_eq!(
        t.write_cd(&mem, ssid(1), &cd, &mut no_sync()),
        Err(CdWriteError::Table(CdTableError::SsidOutOfRange(ssid(1))))
    );
    assert_eq!(t.read_cd(ssid(1)), None);
    let s1 = t.stage1_config();
    assert_eq!(
        (s1.context_ptr, s1.fmt, s1.cd_max, s1.dss),
        (t.base(), S1Fmt::Linear, 0, S1Dss::Terminate)
    );
    release(t, &mem);
}

#[test]
fn linear_tables_are_aligned_to_their_size() {
    let mem = mem();
    for bits in [1u8, 4, 9, 10] {
        mem.start_log();
        let mut t = CdTable::new(&mem, bits, true, Coherency::Coherent).unwrap();
        let size = 64usize << bits;
        assert_eq!(
            mem.take_log(),
            [Event::Alloc {
                pa: t.base().0,
                len: size
            }]
        );
        assert_eq!(t.base().0 % size as u64, 0);
        assert_eq!((t.s1fmt(), t.s1cdmax()), (S1Fmt::Linear, bits));
        let last = (1u32 << bits) - 1;
        let cd = s1_cd(9, 0x8000);
        t.write_cd(&mem, ssid(last), &cd, &mut no_sync()).unwrap();
        // Linear index: the CD is at base + SSID * 64.
        let at = t.base().0 + u64::from(last) * 64;
        assert_eq!(mem.read(at), cd.words()[0]);
        assert_eq!(mem.read(at + 8), 0x8000);
        assert_eq!(t.cd_pa(ssid(last)), Some(PhysAddr(at)));
        assert!(matches!(
            t.write_cd(&mem, ssid(last + 1), &cd, &mut no_sync()),
            Err(CdWriteError::Table(CdTableError::SsidOutOfRange(_)))
        ));
        release(t, &mem);
    }
}

#[test]
fn without_cd2l_the_table_is_capped_at_1024_linear_cds() {
    let mem = mem();
    let mut t = CdTable::new(&mem, 16, false, Coherency::Coherent).unwrap();
    assert_eq!(
        (t.s1fmt(), t.s1cdmax(), t.leaf_count()),
        (S1Fmt::Linear, 10, 0)
    );
    assert_eq!(t.base().0 % 0x1_0000, 0);
    let cd = s1_cd(1, 0x1000);
    t.write_cd(&mem, ssid(1023), &cd, &mut no_sync()).unwrap();
    assert_eq!(
        t.write_cd(&mem, ssid(1024), &cd, &mut no_sync()),
        Err(CdWriteError::Table(CdTableError::SsidOutOfRange(ssid(
            1024
        ))))
    );
    release(t, &mem);
    assert_eq!(
        CdTable::new(&mem, 21, true, Coherency::Coherent).unwrap_err(),
        CdTableError::SsidBits { bits: 21 }
    );
    assert_eq!(mem.live(), 0);
}

#[test]
fn two_level_index_math_and_lazy_leaves() {
    let mem = mem();
    mem.start_log();
    let mut t = CdTable::new(&mem, 12, true, Coherency::Coherent).unwrap();
    // 2^(12 - 10) = 4 L1CDs = 32 bytes, aligned to 64 (the larger of size and 64).
    assert_eq!(
        mem.take_log(),
        [Event::Alloc {
            pa: t.base().0,
            len: 32
        }]
    );
    mem.start_log();
    assert_eq!(t.base().0 % 64, 0);
    assert_eq!(
        (t.s1fmt(), t.s1fmt().raw(), t.s1cdmax(), t.is_two_level()),
        (S1Fmt::TwoLevel64K, 2, 12, true)
    );
    for i in 0..4 {
        assert_eq!(mem.read(t.base().0 + i * 8), 0);
    }
    let cd = s1_cd(5, 0x2000);
    // (SSID, L1 index = SSID[11:10], leaf index = SSID[9:0]).
    let cases = [
        (1023u32, 0u64, 1023u64),
        (1024, 1, 0),
        (0, 0, 0),
        (4095, 3, 1023),
        (3072, 3, 0),
    ];
    for (s, l1, l2) in cases {
        t.write_cd(&mem, ssid(s), &cd, &mut no_sync()).unwrap();
        let desc = mem.read(t.base().0 + l1 * 8);
        // L1CD: V = bit 0, L2Ptr = bits [55:12] in place, 64 KiB aligned; nothing else.
        assert_eq!(desc & !L2PTR_MASK, 1, "ssid {s}");
        let leaf = desc & L2PTR_MASK;
        assert_eq!(leaf % 0x1_0000, 0);
        assert_eq!(mem.read(leaf + l2 * 64), cd.words()[0], "ssid {s}");
        assert_eq!(t.cd_pa(ssid(s)), Some(PhysAddr(leaf + l2 * 64)));
        assert_eq!(smmu_cd(|a| mem.read(a), &t, s), Some(*cd.words()));
    }
    // Leaves 0, 1 and 3: three 64 KiB allocations, leaf 2 untouched.
    let log = mem.take_log();
    assert_eq!(
        log.iter()
            .filter(|e| matches!(e, Event::Alloc { len: 0x1_0000, .. }))
            .count(),
        3
    );
    assert_eq!(t.leaf_count(), 3);
    assert_eq!(mem.read(t.base().0 + 16), 0);
    // Clearing (or reading) a CD whose leaf does not exist allocates nothing.
    let allocs = mem.allocs();
    assert_eq!(
        t.clear_cd(&mem, ssid(2048), &mut no_sync()),
        Ok(WriteReport {
            syncs: 0,
            critical: 0,
            breaking: false
        })
    );
    assert_eq!(t.read_cd(ssid(2048)), Some([0; 8]));
    assert_eq!(t.cd_pa(ssid(2048)), None);
    assert_eq!(smmu_cd(|a| mem.read(a), &t, 2048), None);
    // An invalid target with other bits set is refused before a leaf is allocated.
    let bad = Cd::from_words([1 << 48, 0, 0, 0, 0, 0, 0, 0]);
    assert_eq!(
        t.write_cd(&mem, ssid(2048), &bad, &mut no_sync()),
        Err(CdWriteError::Write(WriteError::UnusedBitsSet {
            word: 0,
            bits: 1 << 48
        }))
    );
    assert_eq!(mem.allocs(), allocs);
    assert_eq!(
        t.write_cd(&mem, ssid(4096), &cd, &mut no_sync()),
        Err(CdWriteError::Table(CdTableError::SsidOutOfRange(ssid(
            4096
        ))))
    );
    assert_eq!(t.read_cd(ssid(4096)), None);
    // A failed leaf allocation writes nothing.
    mem.fail_nth(1);
    assert_eq!(
        t.write_cd(&mem, ssid(2048), &cd, &mut no_sync()),
        Err(CdWriteError::Table(CdTableError::NoMemory(
            smmu_strtab::MemoryError::NoMemory
        )))
    );
    assert_eq!(mem.read(t.base().0 + 16), 0);
    release(t, &mem);

    // 20 bits: 1024 L1CDs (8 KiB, aligned to 8 KiB); SSID 0xfffff is leaf 1023, CD 1023.
    let mut t = CdTable::new(&mem, 20, true, Coherency::Coherent).unwrap();
    assert_eq!(t.base().0 % 0x2000, 0);
    t.write_cd(&mem, ssid(0xf_ffff), &cd, &mut no_sync())
        .unwrap();
    let desc = mem.read(t.base().0 + 1023 * 8);
    assert_eq!(mem.read((desc & L2PTR_MASK) + 1023 * 64), cd.words()[0]);
    let s1 = t.stage1_config();
    assert_eq!(
        (s1.fmt, s1.cd_max, s1.dss),
        (S1Fmt::TwoLevel64K, 20, S1Dss::Substream0)
    );
    release(t, &mem);
}

#[test]
fn a_leaf_is_initialised_and_cleaned_before_its_l1cd_is_published() {
    let mem = TestMem::non_coherent(256 << 10);
    let mut t = CdTable::new(&mem, 11, true, Coherency::NonCoherent).unwrap();
    let target = s1_cd(0x77, 0x5_0000);
    let s = 1500u32; // L1 index 1 (SSID[10]), leaf index 476 (SSID[9:0])
    let l1_pa = t.base().0 + 8;
    mem.start_log();
    // At each sync, read what the SMMU sees (the device view): the L1CD must already be
    // valid, and the CD is recorded.
    let mut steps = Vec::new();
    let mut hook = |step: WriteStep| -> Result<(), ()> {
        mem.push_event(Event::Sync(steps.len() as u32));
        let l1 = mem.read_dev(l1_pa);
        assert_eq!(l1 & 1, 1, "sync before the L1CD is visible to the SMMU");
        let cd: [u64; 8] =
            std::array::from_fn(|i| mem.read_dev((l1 & L2PTR_MASK) + 476 * 64 + i as u64 * 8));
        steps.push((step, cd));
        Ok(())
    };
    let report = t.write_cd(&mem, ssid(s), &target, &mut hook).unwrap();
    let log = mem.take_log();
    assert_eq!(
        report,
        WriteReport {
            syncs: 2,
            critical: 1,
            breaking: false
        }
    );
    let leaf_pa = mem.read(l1_pa) & L2PTR_MASK;
    let pos = |e: &Event| {
        log.iter()
            .position(|x| x == e)
            .unwrap_or_else(|| panic!("{e:?} missing in {log:?}"))
    };
    // Leaf allocated (zeroed for the CPU and the SMMU) -> L1CD stored and cleaned -> CD
    // written and cleaned -> sync.
    let alloc = pos(&Event::Alloc {
        pa: leaf_pa,
        len: 0x1_0000,
    });
    let publish = pos(&Event::Clean { pa: l1_pa, len: 8 });
    let cd_clean = pos(&Event::Clean {
        pa: leaf_pa + 476 * 64,
        len: 64,
    });
    let first_sync = pos(&Event::Sync(0));
    assert!(
        alloc < publish && publish < cd_clean && cd_clean < first_sync,
        "{log:?}"
    );
    // What the SMMU saw at each sync: words 1..7 of the target with word 0 still zero, then
    // the target (zero -> CD is hitless with word 0 critical, spec §8.1).
    let mut body = *target.words();
    body[0] = 0;
    assert_eq!(
        steps,
        [
            (WriteStep::UnusedBits, body),
            (WriteStep::Critical { word: 0 }, *target.words())
        ]
    );
    assert_eq!(smmu_cd(|a| mem.read_dev(a), &t, s), Some(*target.words()));
    // Every other CD of the leaf is invalid (zero) for the SMMU.
    for i in (0..1024u64).filter(|&i| i != 476) {
        assert_eq!(mem.read_dev(leaf_pa + i * 64), 0);
    }
    release(t, &mem);
}

/// Runs one CD update and returns the report and the CD in memory at each sync, checking
/// the spec §8.1 invariants: at every sync the CD equals the old or the new one on the bits
/// it uses at that moment, or is invalid; an invalid CD between two valid ones is seen
/// exactly when the update is a breaking one.
fn transition(from: &Cd, to: &Cd) -> (WriteReport, Vec<[u64; 8]>) {
    let mem = mem();
    let mut t = CdTable::new(&mem, 3, true, Coherency::Coherent).unwrap();
    let at = t.base().0 + 5 * 64;
    t.write_cd(&mem, ssid(5), from, &mut no_sync()).unwrap();
    let mut seen = Vec::new();
    let mut invalid_written = false;
    let report = t
        .write_cd(&mem, ssid(5), to, &mut |_step| -> Result<(), ()> {
            let now: [u64; 8] = std::array::from_fn(|i| mem.read(at + i as u64 * 8));
            let used = cd_used(&now);
            let same = |x: &[u64; 8]| (0..8).all(|i| (now[i] ^ x[i]) & used[i] == 0);
            let invalid = now[0] & (1 << 31) == 0;
            assert!(
                same(from.words()) || same(to.words()) || invalid,
                "mixed CD at a sync: {now:x?}"
            );
            invalid_written |= invalid && from.is_valid() && to.is_valid();
            seen.push(now);
            Ok(())
        })
        .unwrap();
    assert_eq!(invalid_written, report.breaking);
    assert_eq!(t.read_cd(ssid(5)), Some(*to.words()));
    release(t, &mem);
    (report, seen)
}

#[test]
fn cd_updates_follow_the_spec_8_sync_counts() {
    let s1 = s1_cd(0x11, 0x4_0000);
    let zero = Cd::INVALID;
    let w = *s1.words();
    // Zero -> S1 CD: word 0 (V) is the only critical word; step 1 writes the words other
    // than the critical one, step 2 the critical word.
    let (r, seen) = transition(&zero, &s1);
    assert_eq!(
        r,
        WriteReport {
            syncs: 2,
            critical: 0b1,
            breaking: false
        }
    );
    assert_eq!(seen, [[0, w[1], w[2], w[3], 0, 0, 0, 0], w]);
    // S1 CD -> zero (clear): word 0 is cleared first, then the rest.
    let (r, seen) = transition(&s1, &zero);
    assert_eq!(
        r,
        WriteReport {
            syncs: 2,
            critical: 0b1,
            breaking: false
        }
    );
    assert_eq!(seen, [[0, w[1], w[2], w[3], 0, 0, 0, 0], [0; 8]]);
    // ASID change: one critical word, one sync, both directions.
    let other = s1_cd(0x22, 0x4_0000);
    for (a, b) in [(&s1, &other), (&other, &s1)] {
        let (r, seen) = transition(a, b);
        assert_eq!(
            r,
            WriteReport {
                syncs: 1,
                critical: 0b1,
                breaking: false
            }
        );
        assert_eq!(seen, [*b.words()]);
    }
    // ASID and TTB0 change: words 0 and 1 critical, a breaking update in three syncs.
    let moved = s1_cd(0x22, 0x8_0000);
    let (r, seen) = transition(&s1, &moved);
    assert_eq!(
        r,
        WriteReport {
            syncs: 3,
            critical: 0b11,
            breaking: true
        }
    );
    let m = *moved.words();
    assert_eq!(
        seen,
        [
            [0, w[1], w[2], w[3], 0, 0, 0, 0],
            [0, m[1], m[2], m[3], 0, 0, 0, 0],
            m
        ]
    );
    // No change, no sync.
    assert_eq!(
        transition(&s1, &s1),
        (
            WriteReport {
                syncs: 0,
                critical: 0,
                breaking: false
            },
            vec![]
        )
    );
}

#[test]
fn hook_errors_propagate() {
    let mem = mem();
    let mut t = CdTable::new(&mem, 0, false, Coherency::Coherent).unwrap();
    let r = t.write_cd(
        &mem,
        ssid(0),
        &s1_cd(1, 0x1000),
        &mut |_s: WriteStep| -> Result<(), u32> { Err(7) },
    );
    assert_eq!(r, Err(CdWriteError::Write(WriteError::Sync(7))));
    release(t, &mem);
}

fn check_caps() -> CdCheckCaps {
    CdCheckCaps {
        stall_model: 1,
        term_model: true,
        ttendian: 2,
        ttf_aarch32: false,
        ttf_aarch64: true,
        httu: 0,
        asid16: true,
        stt: false,
        gran4k: true,
        gran16k: false,
        gran64k: false,
        ds: false,
        vax: 0,
        oas_bits: 40,
        version: 1,
    }
}

#[test]
fn stage1_cd_fields() {
    let cfg = PageTableConfig {
        stage: Stage::Stage1,
        granule: Granule::Size4K,
        ttb: PhysAddr(0x12_3456_7000),
        input_bits: 48,
        output_size: AddressSize::Bits40,
        start_level: 0,
        concatenated: 1,
        walk_inner: Cacheability::WriteBack,
        walk_outer: Cacheability::WriteBack,
        walk_shareability: Shareability::Inner,
        mair: MAIR,
    };
    let cd = stage1_cd(&cfg, Asid(0x1234), &Stage1CdOptions::default()).unwrap();
    // dw0: ASID[63:48] | ASET 47 | A 46 | R 45 | AA64 41 | IPS[34:32] = 2 (40 bits) | V 31 |
    // EPD1 30 | SH0[13:12] = 3 | OR0[11:10] = 1 | IR0[9:8] = 1 | TG0[7:6] = 0 | T0SZ = 16.
    assert_eq!(
        *cd.words(),
        [
            0x1234_e202_c000_3510,
            0x12_3456_7000,
            0,
            0x44_04ff,
            0,
            0,
            0,
            0
        ]
    );
    let ctx = CdStreamContext {
        stream_world: StreamWorld::NsEl1,
        s1stalld: false,
        stage2_aarch32: false,
    };
    assert_eq!(cd.check(&check_caps(), &ctx), Ok(()));

    // Non-coherent walks (IR0 = OR0 = 0, SH0 = 2), SVA-style options.
    let nc = PageTableConfig {
        walk_inner: Cacheability::NonCacheable,
        walk_outer: Cacheability::NonCacheable,
        walk_shareability: Shareability::Outer,
        ..cfg
    };
    let opts = Stage1CdOptions {
        aset: false,
        record: false,
        abort: true,
        affd: true,
        stall: false,
    };
    let cd = stage1_cd(&nc, Asid(7), &opts).unwrap();
    // ASID 7, A 46, AFFD 35, IPS 2, V, EPD1, SH0 = 2, T0SZ 16.
    assert_eq!(
        cd.words()[0],
        0x0007_4000_0000_0000 | (1 << 41) | (1 << 35) | 0x2_c000_2010
    );

    let s2 = PageTableConfig {
        stage: Stage::Stage2,
        ..cfg
    };
    assert_eq!(
        stage1_cd(&s2, Asid(1), &Stage1CdOptions::default()),
        Err(CdTableError::WrongStage)
    );

    // From a real table: TTB0 and T0SZ come from it, and the CD is legal.
    let mem = mem();
    let pt = Aarch64PageTable::new(
        &mem,
        PageTableParams::new(Stage::Stage1, 39, AddressSize::Bits40, Coherency::Coherent),
    )
    .unwrap();
    let cd = stage1_cd(&pt.config(), Asid(0x42), &Stage1CdOptions::default()).unwrap();
    assert_eq!(
        (cd.ttb0(), cd.t0sz(), cd.mair()),
        (pt.config().ttb, 25, MAIR)
    );
    assert_eq!(cd.check(&check_caps(), &ctx), Ok(()));
    // SAFETY: no SMMU reads the test tables.
    unsafe { pt.release(&mem) };
}

#[test]
fn stage1_ste_part_is_legal() {
    let mem = mem();
    let caps = SteCheckCaps {
        s1p: true,
        s2p: true,
        ats: false,
        ns1ats: false,
        hyp: false,
        stall_model: 0,
        ssid_bits: 20,
        cd2l: true,
        oas_bits: 44,
        ttf_aarch32: false,
        ttf_aarch64: true,
        ttendian: 0,
        httu: 0,
        vmid16: true,
        fwb: false,
        dpt: false,
        stt: false,
        gran4k: true,
        gran16k: false,
        gran64k: false,
        ds: false,
        version: 1,
    };
    for (bits, cd2l) in [
        (0u8, true),
        (5, true),
        (10, false),
        (14, true),
        (20, true),
        (20, false),
    ] {
        let t = CdTable::new(&mem, bits, cd2l, Coherency::Coherent).unwrap();
        let ste = Ste::stage1(&t.stage1_config()).unwrap();
        assert_eq!(ste.s1_context_ptr(), t.base());
        assert_eq!(
            ste.check(&SteCheckCaps { cd2l, ..caps }),
            Ok(()),
            "{bits} bits"
        );
        release(t, &mem);
    }
}
