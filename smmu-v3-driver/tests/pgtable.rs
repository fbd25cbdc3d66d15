//! IO page table tests. Expected descriptor values, start levels and field encodings are
//! written by hand from the Arm ARM (VMSAv8-64, 4 KiB granule) and spec smmuv3.md §2.1,
//! §7.6; translations are checked with the independent walker of `common_mem`.

mod common_mem;

use common_mem::{Event, TestMem, WalkRegs, walk};
use iommu_core::Prot;
use smmu_regs::ste::{Ste, SteCheckCaps};
use smmu_regs::{AddressSize, Cacheability, Granule, Iova, PhysAddr, Shareability, Vmid};
use smmu_strtab::Coherency;
use smmu_v3_driver::pgtable::{
    Aarch64PageTable, IoPageTable, MAIR, PAGE_SIZE, PageTableConfig, PageTableError,
    PageTableParams, Stage,
};

const RW: Prot = Prot::READ.union(Prot::WRITE);
const RWC: Prot = RW.union(Prot::CACHE);

fn mem() -> TestMem {
    TestMem::new(512 << 10)
}

fn table(mem: &TestMem, stage: Stage, ias: u8, oas: AddressSize) -> Aarch64PageTable {
    Aarch64PageTable::new(
        mem,
        PageTableParams::new(stage, ias, oas, Coherency::Coherent),
    )
    .unwrap()
}

fn regs(cfg: &PageTableConfig) -> WalkRegs {
    WalkRegs {
        ttb: cfg.ttb.0,
        tsz: u32::from(cfg.tsz()),
        s2sl0: cfg.s2sl0().map(u32::from),
    }
}

fn hw_walk(mem: &TestMem, pt: &Aarch64PageTable, iova: u64) -> Option<common_mem::Translation> {
    walk(|pa| mem.read(pa), regs(&pt.config()), iova)
}

fn dev_walk(mem: &TestMem, pt: &Aarch64PageTable, iova: u64) -> Option<common_mem::Translation> {
    walk(|pa| mem.read_dev(pa), regs(&pt.config()), iova)
}

fn release(pt: Aarch64PageTable, mem: &TestMem) {
    // SAFETY: no SMMU reads the test tables.
    unsafe { pt.release(mem) };
    assert_eq!(mem.live(), 0, "release left allocations behind");
}

fn caps48() -> SteCheckCaps {
    SteCheckCaps {
        s1p: true,
        s2p: true,
        ats: false,
        ns1ats: false,
        hyp: false,
        stall_model: 0,
        ssid_bits: 0,
        cd2l: false,
        oas_bits: 48,
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
    }
}

#[test]
fn stage1_config_by_input_size() {
    let mem = mem();
    // (input bits, start level, T0SZ): start level = 4 - ceil((ias - 12) / 9).
    for (ias, start, t0sz) in [
        (48, 0, 16),
        (40, 0, 24),
        (39, 1, 25),
        (32, 1, 32),
        (31, 1, 33),
        (30, 2, 34),
        (25, 2, 39),
    ] {
        let pt = table(&mem, Stage::Stage1, ias, AddressSize::Bits44);
        let cfg = pt.config();
        assert_eq!(
            (cfg.start_level, cfg.tsz(), cfg.concatenated),
            (start, t0sz, 1),
            "ias {ias}"
        );
        assert_eq!(cfg.stage, Stage::Stage1);
        assert_eq!(cfg.granule, Granule::Size4K);
        assert_eq!(cfg.output_size, AddressSize::Bits44);
        assert_eq!(cfg.ttb.0 % 4096, 0);
        assert_eq!(cfg.mair, 0x0000_0000_0044_04ff);
        assert_eq!(cfg.s2sl0(), None);
        assert_eq!(cfg.stage2_config(Vmid(1)), Err(PageTableError::WrongStage));
        assert_eq!(
            (cfg.walk_inner, cfg.walk_outer, cfg.walk_shareability),
            (
                Cacheability::WriteBack,
                Cacheability::WriteBack,
                Shareability::Inner
            )
        );
        release(pt, &mem);
    }
    assert_eq!(MAIR, 0x44_04ff);
}

#[test]
fn stage2_config_by_input_size() {
    let mem = mem();
    // (input bits, start level, S2SL0, concatenated tables, S2T0SZ). 4K: start = 2 - SL0.
    // Level 0 with at most 16 entries (ias <= 43) becomes level 1 with 2..16 tables.
    for (ias, start, sl0, concat, tsz) in [
        (48, 0, 2, 1, 16),
        (44, 0, 2, 1, 20),
        (43, 1, 1, 16, 21),
        (40, 1, 1, 2, 24),
        (39, 1, 1, 1, 25),
        (32, 1, 1, 1, 32),
        (31, 1, 1, 1, 33),
        (30, 2, 0, 1, 34),
        (25, 2, 0, 1, 39),
    ] {
        let pt = table(&mem, Stage::Stage2, ias, AddressSize::Bits48);
        let cfg = pt.config();
        assert_eq!(
            (cfg.start_level, cfg.s2sl0(), cfg.concatenated, cfg.tsz()),
            (start, Some(sl0), concat, tsz),
            "ias {ias}"
        );
        // Concatenated start tables are aligned to their total size.
        assert_eq!(cfg.ttb.0 % (4096 * u64::from(concat)), 0);
        assert_eq!(cfg.mair, 0);
        // Cross-check with smmu-regs' S2SL0 / S2T0SZ consistency rule (spec §2.3).
        let s2 = cfg.stage2_config(Vmid(5)).unwrap();
        assert_eq!((s2.t0sz, s2.sl0, s2.ttb), (tsz, sl0, cfg.ttb));
        assert_eq!(
            (s2.ir0, s2.or0, s2.sh0),
            (
                Cacheability::WriteBack,
                Cacheability::WriteBack,
                Shareability::Inner
            )
        );
        let ste = Ste::stage2(&s2).unwrap();
        assert!(ste.s2_walk_consistent(&caps48()), "ias {ias}");
        assert_eq!(ste.check(&caps48()), Ok(()), "ias {ias}");
        release(pt, &mem);
    }
}

#[test]
fn constructor_errors_and_output_cap() {
    let mem = mem();
    for bits in [0, 24, 49, 64] {
        let p = PageTableParams::new(
            Stage::Stage1,
            bits,
            AddressSize::Bits48,
            Coherency::Coherent,
        );
        assert_eq!(
            Aarch64PageTable::new(&mem, p).unwrap_err(),
            PageTableError::UnsupportedInputSize { bits }
        );
    }
    // A 44-bit IPA would start at level 0 (S2SL0 = 2), which needs OAS >= 44.
    let p = PageTableParams::new(Stage::Stage2, 44, AddressSize::Bits42, Coherency::Coherent);
    assert_eq!(
        Aarch64PageTable::new(&mem, p).unwrap_err(),
        PageTableError::UnsupportedInputSize { bits: 44 }
    );
    // 52-bit OAS is capped to 48 bits (no LPA with 4 KiB pages here).
    let pt = table(&mem, Stage::Stage1, 48, AddressSize::Bits52);
    assert_eq!(pt.config().output_size, AddressSize::Bits48);
    release(pt, &mem);
    // Non-coherent walks are non-cacheable, outer shareable.
    let p = PageTableParams::new(
        Stage::Stage1,
        39,
        AddressSize::Bits40,
        Coherency::NonCoherent,
    );
    let pt = Aarch64PageTable::new(&mem, p).unwrap();
    let cfg = pt.config();
    assert_eq!(
        (cfg.walk_inner, cfg.walk_outer, cfg.walk_shareability),
        (
            Cacheability::NonCacheable,
            Cacheability::NonCacheable,
            Shareability::Outer
        )
    );
    release(pt, &mem);
    assert_eq!(mem.allocs(), 2);
}

/// Descriptor values written by hand: stage 1 lower attributes AttrIndx[4:2], AP[7:6],
/// SH[9:8], AF[10], nG[11]; upper PXN[53], UXN[54]. Stage 2: MemAttr[5:2], S2AP[7:6],
/// SH[9:8], AF[10], XN[54:53]. Page: bits[1:0] = 0b11.
#[test]
fn leaf_descriptor_values() {
    let mem = mem();
    let cases_s1: [(Prot, u64); 6] = [
        // RW normal WB: AF | SH inner | AP = 0b01 (unprivileged RW) | AttrIndx 0 | nG | page.
        (RWC, 0x0000_0000_0000_0f43),
        // Read-only, no exec: AP = 0b11, PXN + UXN.
        (
            Prot::READ | Prot::CACHE | Prot::NOEXEC,
            0x0060_0000_0000_0fc3,
        ),
        // Device-nGnRE: AttrIndx 1, SH outer.
        (RW | Prot::MMIO, 0x0000_0000_0000_0e47),
        // Normal non-cacheable: AttrIndx 2, SH outer.
        (RW, 0x0000_0000_0000_0e4b),
        // Privileged only: AP = 0b00.
        (RWC | Prot::PRIV, 0x0000_0000_0000_0f03),
        // Write-only has no stage 1 encoding: read-write.
        (Prot::WRITE | Prot::CACHE, 0x0000_0000_0000_0f43),
    ];
    let cases_s2: [(Prot, u64); 4] = [
        // MemAttr 0b1111, S2AP = 0b11, SH inner, AF, page.
        (RWC, 0x0000_0000_0000_07ff),
        // Write-only, normal NC: MemAttr 0b0101, S2AP = 0b10, SH outer.
        (Prot::WRITE, 0x0000_0000_0000_0697),
        // Read-only device, XN[1]: MemAttr 0b0001, S2AP = 0b01.
        (
            Prot::READ | Prot::MMIO | Prot::NOEXEC,
            0x0040_0000_0000_0647,
        ),
        // PRIV means nothing at stage 2.
        (RWC | Prot::PRIV, 0x0000_0000_0000_07ff),
    ];
    for (stage, cases) in [
        (Stage::Stage1, &cases_s1[..]),
        (Stage::Stage2, &cases_s2[..]),
    ] {
        let mut pt = table(&mem, stage, 40, AddressSize::Bits48);
        for (i, &(prot, attrs)) in cases.iter().enumerate() {
            let iova = 0x10_0000 + i as u64 * 0x1000;
            let pa = 0xfedc_ba98_7000 - i as u64 * 0x1000;
            pt.map(&mem, Iova(iova), PhysAddr(pa), 0x1000, prot)
                .unwrap();
            let t = hw_walk(&mem, &pt, iova + 0x123).unwrap();
            assert_eq!(t.level, 3);
            assert_eq!(t.desc, pa | attrs, "{stage:?} {prot:?}");
            assert_eq!(t.pa, pa + 0x123);
        }
        release(pt, &mem);
    }
    // Neither read nor write.
    let mut pt = table(&mem, Stage::Stage1, 40, AddressSize::Bits48);
    assert_eq!(
        pt.map(
            &mem,
            Iova(0),
            PhysAddr(0),
            0x1000,
            Prot::CACHE | Prot::NOEXEC
        ),
        Err(PageTableError::NoAccess)
    );
    release(pt, &mem);
}

#[test]
fn table_descriptors_and_walk_path() {
    let mem = mem();
    let mut pt = table(&mem, Stage::Stage1, 48, AddressSize::Bits48);
    let iova: u64 = 0x0000_8765_4321_0000;
    pt.map(&mem, Iova(iova), PhysAddr(0x1_0000), 0x1000, RWC)
        .unwrap();
    // Walk by hand: L0 index = iova[47:39], L1 = [38:30], L2 = [29:21], L3 = [20:12].
    let idx = [
        (iova >> 39) & 511,
        (iova >> 30) & 511,
        (iova >> 21) & 511,
        (iova >> 12) & 511,
    ];
    let mut table_pa = pt.config().ttb.0;
    for (level, i) in idx.iter().enumerate() {
        let desc = mem.read(table_pa + i * 8);
        if level < 3 {
            // A table descriptor is exactly the next table's address | 0b11.
            assert_eq!(desc & !0x0000_ffff_ffff_f000, 0b11, "level {level}");
            table_pa = desc & 0x0000_ffff_ffff_f000;
        } else {
            assert_eq!(desc, 0x1_0000 | 0xf43);
        }
    }
    // Nothing else is mapped: every other entry of every table on the path is zero.
    let mut table_pa = pt.config().ttb.0;
    for i in idx {
        for j in 0..512 {
            if j != i {
                assert_eq!(mem.read(table_pa + j * 8), 0);
            }
        }
        table_pa = mem.read(table_pa + i * 8) & 0x0000_ffff_ffff_f000;
    }
    release(pt, &mem);
}

/// Generic use through the trait, as the driver does.
fn map_probe_unmap<T: IoPageTable<TestMem>>(
    pt: &mut T,
    mem: &TestMem,
    iova: u64,
    pa: u64,
) -> Option<PhysAddr> {
    pt.map(mem, Iova(iova), PhysAddr(pa), PAGE_SIZE, RWC)
        .unwrap();
    let got = pt.iova_to_phys(mem, Iova(iova + 8));
    assert_eq!(pt.unmap(mem, Iova(iova), PAGE_SIZE), Ok(PAGE_SIZE));
    assert_eq!(pt.iova_to_phys(mem, Iova(iova)), None);
    got
}

#[test]
fn map_unmap_at_several_input_sizes() {
    let mem = mem();
    for stage in [Stage::Stage1, Stage::Stage2] {
        let sizes: &[u8] = if cfg!(miri) {
            &[25, 40, 43, 48]
        } else {
            &[25, 30, 32, 36, 39, 40, 43, 44, 48]
        };
        for &ias in sizes {
            let mut pt = table(&mem, stage, ias, AddressSize::Bits48);
            let top = 1u64 << ias;
            let probes = [
                0,
                0x1000,
                top / 2 - 0x1000,
                top / 2,
                top - 0x2000,
                top - 0x1000,
            ];
            let attrs = match stage {
                Stage::Stage1 => 0xf43,
                Stage::Stage2 => 0x7ff,
            };
            for (i, &iova) in probes.iter().enumerate() {
                let pa = 0x5_0000_0000 + i as u64 * 0x3000;
                pt.map(&mem, Iova(iova), PhysAddr(pa), 0x1000, RWC).unwrap();
                let t = hw_walk(&mem, &pt, iova + 0xabc)
                    .unwrap_or_else(|| panic!("{stage:?} {ias} {iova:#x}"));
                assert_eq!((t.pa, t.level, t.desc), (pa + 0xabc, 3, pa | attrs));
                assert_eq!(
                    pt.iova_to_phys(&mem, Iova(iova + 0xabc)),
                    Some(PhysAddr(pa + 0xabc))
                );
            }
            // Beyond the input size: no translation, and map refuses.
            assert_eq!(pt.iova_to_phys(&mem, Iova(top)), None);
            assert_eq!(
                pt.map(&mem, Iova(top), PhysAddr(0), 0x1000, RWC),
                Err(PageTableError::IovaOutOfRange {
                    iova: Iova(top),
                    size: 0x1000
                })
            );
            for (i, &iova) in probes.iter().enumerate() {
                assert_eq!(pt.unmap(&mem, Iova(iova), 0x1000), Ok(0x1000));
                assert_eq!(hw_walk(&mem, &pt, iova), None);
                assert_eq!(pt.iova_to_phys(&mem, Iova(iova)), None);
                // The other probes are untouched.
                for &other in &probes[i + 1..] {
                    assert!(hw_walk(&mem, &pt, other).is_some());
                }
            }
            assert_eq!(
                map_probe_unmap(&mut pt, &mem, top - 0x1000, 0x7000),
                Some(PhysAddr(0x7008))
            );
            release(pt, &mem);
        }
    }
}

#[test]
fn argument_errors() {
    let mem = mem();
    let mut pt = table(&mem, Stage::Stage1, 32, AddressSize::Bits40);
    use PageTableError as E;
    assert_eq!(pt.map(&mem, Iova(0), PhysAddr(0), 0, RWC), Err(E::ZeroSize));
    assert_eq!(
        pt.map(&mem, Iova(0x1001), PhysAddr(0), 0x1000, RWC),
        Err(E::MisalignedIova(Iova(0x1001)))
    );
    assert_eq!(
        pt.map(&mem, Iova(0x1000), PhysAddr(0x800), 0x1000, RWC),
        Err(E::MisalignedPa(PhysAddr(0x800)))
    );
    assert_eq!(
        pt.map(&mem, Iova(0x1000), PhysAddr(0), 0x1800, RWC),
        Err(E::MisalignedSize(0x1800))
    );
    assert_eq!(
        pt.map(&mem, Iova(0xffff_f000), PhysAddr(0), 0x2000, RWC),
        Err(E::IovaOutOfRange {
            iova: Iova(0xffff_f000),
            size: 0x2000
        })
    );
    assert_eq!(
        pt.map(&mem, Iova(0x1000), PhysAddr(0), !0xfff, RWC),
        Err(E::IovaOutOfRange {
            iova: Iova(0x1000),
            size: !0xfff
        })
    );
    // OAS 40: the last page below 2^40 is fine, one more is not.
    assert_eq!(
        pt.map(&mem, Iova(0x1000), PhysAddr(0xff_ffff_f000), 0x2000, RWC),
        Err(E::PaOutOfRange {
            pa: PhysAddr(0xff_ffff_f000),
            size: 0x2000
        })
    );
    assert_eq!(pt.unmap(&mem, Iova(0), 0), Err(E::ZeroSize));
    assert_eq!(
        pt.unmap(&mem, Iova(0x10), 0x1000),
        Err(E::MisalignedIova(Iova(0x10)))
    );
    assert_eq!(pt.unmap(&mem, Iova(0), 0x10), Err(E::MisalignedSize(0x10)));
    assert_eq!(
        pt.unmap(&mem, Iova(0x1_0000_0000), 0x1000),
        Err(E::IovaOutOfRange {
            iova: Iova(0x1_0000_0000),
            size: 0x1000
        })
    );
    // Nothing was allocated by any of that.
    assert_eq!(mem.live(), 1);
    pt.map(&mem, Iova(0x1000), PhysAddr(0xff_ffff_f000), 0x1000, RWC)
        .unwrap();
    assert_eq!(
        pt.iova_to_phys(&mem, Iova(0x1fff)),
        Some(PhysAddr(0xff_ffff_ffff))
    );
    // Unmapping nothing unmaps 0 bytes.
    assert_eq!(pt.unmap(&mem, Iova(0x10_0000), 0x10_0000), Ok(0));
    release(pt, &mem);
}

#[test]
fn overlap_is_refused_without_side_effects() {
    let mem = mem();
    let mut pt = table(&mem, Stage::Stage2, 40, AddressSize::Bits44);
    pt.map(&mem, Iova(0x3000), PhysAddr(0x10_0000), 0x1000, RWC)
        .unwrap();
    let before = mem.snapshot();
    let live = mem.live();
    // A range that needs new tables further on but overlaps at 0x3000.
    assert_eq!(
        pt.map(&mem, Iova(0x1000), PhysAddr(0x20_0000), 0x40_0000, RWC),
        Err(PageTableError::AlreadyMapped { iova: Iova(0x3000) })
    );
    before.assert_same(&mem.snapshot(), "rollback");
    assert_eq!(mem.live(), live);
    // Same page again.
    assert_eq!(
        pt.map(&mem, Iova(0x3000), PhysAddr(0x10_0000), 0x1000, RWC),
        Err(PageTableError::AlreadyMapped { iova: Iova(0x3000) })
    );
    release(pt, &mem);
}

#[test]
fn failed_allocation_rolls_back() {
    let mem = mem();
    let mut pt = table(&mem, Stage::Stage1, 48, AddressSize::Bits48);
    // Two pages on each side of a 512 GiB (level 0) boundary: 2 x (L1 + L2 + L3) tables.
    let iova = (1u64 << 39) - 0x2000;
    let before = mem.snapshot();
    for n in 1..=6 {
        mem.fail_nth(n);
        assert_eq!(
            pt.map(&mem, Iova(iova), PhysAddr(0x9000_0000), 0x4000, RWC),
            Err(PageTableError::NoMemory(smmu_strtab::MemoryError::NoMemory)),
            "failing allocation {n}"
        );
        mem.clear_failure();
        before.assert_same(&mem.snapshot(), &format!("failing allocation {n}"));
        assert_eq!(mem.live(), 1, "failing allocation {n}");
        assert_eq!(pt.iova_to_phys(&mem, Iova(iova)), None);
    }
    // With some tables already there, only the missing ones are allocated.
    pt.map(&mem, Iova(iova - 0x1000), PhysAddr(0x1000), 0x1000, RWC)
        .unwrap();
    assert_eq!(mem.live(), 4);
    let before = mem.snapshot();
    for n in 1..=3 {
        mem.fail_nth(n);
        assert!(
            pt.map(&mem, Iova(iova), PhysAddr(0x9000_0000), 0x4000, RWC)
                .is_err()
        );
        mem.clear_failure();
        before.assert_same(&mem.snapshot(), "rollback");
        assert_eq!(mem.live(), 4);
    }
    mem.fail_nth(4);
    pt.map(&mem, Iova(iova), PhysAddr(0x9000_0000), 0x4000, RWC)
        .unwrap();
    mem.clear_failure();
    assert_eq!(mem.live(), 7);
    for k in 0..4 {
        let t = hw_walk(&mem, &pt, iova + k * 0x1000).unwrap();
        assert_eq!(t.pa, 0x9000_0000 + k * 0x1000);
    }
    release(pt, &mem);
}

#[test]
fn blocks_and_partial_block_unmap() {
    let mem = mem();
    for stage in [Stage::Stage1, Stage::Stage2] {
        let (block_attrs, page_attrs) = match stage {
            Stage::Stage1 => (0xf41, 0xf43),
            Stage::Stage2 => (0x7fd, 0x7ff),
        };
        let mut pt = table(&mem, stage, 48, AddressSize::Bits48);
        // 1 GiB block at level 1: no table below level 1 is created.
        pt.map(
            &mem,
            Iova(0x4000_0000),
            PhysAddr(0xc000_0000),
            0x4000_0000,
            RWC,
        )
        .unwrap();
        let t = hw_walk(&mem, &pt, 0x4123_4567).unwrap();
        assert_eq!(
            (t.level, t.desc, t.pa),
            (1, 0xc000_0000 | block_attrs, 0xc123_4567)
        );
        assert_eq!(mem.live(), 2); // root + the level 1 table
        // 2 MiB block at level 2.
        pt.map(&mem, Iova(0x20_0000), PhysAddr(0x4020_0000), 0x20_0000, RWC)
            .unwrap();
        let t = hw_walk(&mem, &pt, 0x20_0000).unwrap();
        assert_eq!((t.level, t.desc), (2, 0x4020_0000 | block_attrs));
        // PA not 2 MiB aligned: pages.
        pt.map(&mem, Iova(0x60_0000), PhysAddr(0x4030_1000), 0x20_0000, RWC)
            .unwrap();
        let t = hw_walk(&mem, &pt, 0x7f_f000).unwrap();
        assert_eq!((t.level, t.desc), (3, 0x4050_0000 | page_attrs));
        // Page, block, page.
        let base = 0x1_001f_f000u64;
        pt.map(&mem, Iova(base), PhysAddr(0x2_001f_f000), 0x20_2000, RWC)
            .unwrap();
        let levels: Vec<u32> = [base, base + 0x1000, base + 0x20_0fff, base + 0x20_1000]
            .iter()
            .map(|&a| hw_walk(&mem, &pt, a).unwrap().level)
            .collect();
        assert_eq!(levels, [3, 2, 2, 3]);
        assert_eq!(hw_walk(&mem, &pt, base + 0x1000).unwrap().pa, 0x2_0020_0000);

        // Unmapping part of a block is refused and changes nothing.
        let before = mem.snapshot();
        assert_eq!(
            pt.unmap(&mem, Iova(base + 0x2000), 0x1000),
            Err(PageTableError::PartialBlock {
                iova: Iova(0x1_0020_0000)
            })
        );
        assert_eq!(
            pt.unmap(&mem, Iova(base), 0x2000),
            Err(PageTableError::PartialBlock {
                iova: Iova(0x1_0020_0000)
            })
        );
        assert_eq!(
            pt.unmap(&mem, Iova(0x3000_0000), 0x1000_1000),
            Err(PageTableError::PartialBlock {
                iova: Iova(0x4000_0000)
            })
        );
        before.assert_same(&mem.snapshot(), "rollback");
        // A block cannot be mapped over existing pages (the overlap is reported).
        assert_eq!(
            pt.map(&mem, Iova(0x60_0000), PhysAddr(0x8000_0000), 0x20_0000, RWC),
            Err(PageTableError::AlreadyMapped {
                iova: Iova(0x60_0000)
            })
        );
        // Whole blocks unmap.
        assert_eq!(pt.unmap(&mem, Iova(base), 0x20_2000), Ok(0x20_2000));
        assert_eq!(
            pt.unmap(&mem, Iova(0x4000_0000), 0x4000_0000),
            Ok(0x4000_0000)
        );
        assert_eq!(pt.unmap(&mem, Iova(0), 0x100_0000), Ok(0x40_0000));
        assert_eq!(hw_walk(&mem, &pt, 0x4000_0000), None);
        // SAFETY: no SMMU walks the test tables.
        unsafe { pt.reclaim(&mem) };
        assert_eq!(mem.live(), 1);
        release(pt, &mem);
    }
}

#[test]
fn empty_tables_are_unlinked_then_reclaimed() {
    let mem = mem();
    let mut pt = table(&mem, Stage::Stage1, 48, AddressSize::Bits48);
    let iova = 0x1234_5678_9000u64;
    pt.map(&mem, Iova(iova), PhysAddr(0x1000), 0x1000, RWC)
        .unwrap();
    pt.map(&mem, Iova(iova + 0x1000), PhysAddr(0x2000), 0x1000, RWC)
        .unwrap();
    assert_eq!(mem.live(), 4);
    // Collect the table addresses on the path.
    let mut tables = Vec::new();
    let mut t = pt.config().ttb.0;
    for shift in [39u32, 30, 21] {
        t = mem.read(t + ((iova >> shift) & 511) * 8) & 0x0000_ffff_ffff_f000;
        tables.push(t);
    }
    // One page left: the tables stay.
    assert_eq!(pt.unmap(&mem, Iova(iova), 0x1000), Ok(0x1000));
    assert_eq!(mem.live(), 4);
    assert!(hw_walk(&mem, &pt, iova + 0x1000).is_some());
    // Last page gone: the path is unlinked at the root but not freed before reclaim.
    assert_eq!(pt.unmap(&mem, Iova(iova + 0x1000), 0x1000), Ok(0x1000));
    assert_eq!(mem.read(pt.config().ttb.0 + ((iova >> 39) & 511) * 8), 0);
    assert_eq!(mem.live(), 4);
    // A stale walk through an unlinked table finds only invalid descriptors (bit 0 = 0),
    // even where the table keeps its bookkeeping.
    for &t in &tables {
        for j in 0..512 {
            assert_eq!(mem.read(t + j * 8) & 1, 0);
        }
    }
    // SAFETY: no SMMU walks the test tables.
    unsafe { pt.reclaim(&mem) };
    assert_eq!(mem.live(), 1);
    // The table keeps working after reclaim.
    pt.map(&mem, Iova(iova), PhysAddr(0x3000), 0x1000, RWC)
        .unwrap();
    assert_eq!(hw_walk(&mem, &pt, iova).unwrap().pa, 0x3000);
    release(pt, &mem);
}

#[test]
fn non_coherent_tables_are_cleaned_before_publication() {
    for stage in [Stage::Stage1, Stage::Stage2] {
        let mem = TestMem::non_coherent(512 << 10);
        let p = PageTableParams::new(stage, 40, AddressSize::Bits44, Coherency::NonCoherent);
        let mut pt = Aarch64PageTable::new(&mem, p).unwrap();
        let probes: Vec<u64> = vec![
            0x0,
            0x1000,
            0x20_0000,
            0x3f_f000,
            0x40_0000,
            0x80_1234_5000,
            0xff_ffff_f000,
        ];
        let ranges = [
            (0x0u64, 0x2000u64),
            (0x1f_f000, 0x20_2000), // page, block, page
            (0x80_1234_5000, 0x1000),
            (0xff_ffff_f000, 0x1000),
        ];
        mem.start_log();
        for (i, &(iova, size)) in ranges.iter().enumerate() {
            pt.map(
                &mem,
                Iova(iova),
                PhysAddr(0x10_0000_0000 + i as u64 * 0x100_0000 + (iova & 0x1f_ffff)),
                size,
                RWC,
            )
            .unwrap();
        }
        let log = mem.take_log();
        // What the SMMU sees equals what the CPU wrote.
        for &a in &probes {
            assert_eq!(
                dev_walk(&mem, &pt, a),
                hw_walk(&mem, &pt, a),
                "{stage:?} {a:#x}"
            );
        }
        assert!(dev_walk(&mem, &pt, 0x80_1234_5000).is_some());
        // Every new table was cleaned as a whole before the clean that published its
        // table descriptor.
        let mut checked = 0;
        for (ai, e) in log.iter().enumerate() {
            let Event::Alloc { pa: table_pa, .. } = *e else {
                continue;
            };
            let desc_addr =
                find_table_descriptor(&mem, &pt, table_pa).expect("new table is linked");
            let after = &log[ai..];
            let table_clean = after
                .iter()
                .position(|e| {
                    *e == Event::Clean {
                        pa: table_pa,
                        len: 4096,
                    }
                })
                .expect("new table cleaned");
            let publish = after
                .iter()
                .position(|e| matches!(*e, Event::Clean { pa, len } if pa <= desc_addr && desc_addr < pa + len as u64))
                .expect("descriptor cleaned");
            assert!(
                table_clean < publish,
                "{stage:?}: table {table_pa:#x} published before it was cleaned"
            );
            checked += 1;
        }
        assert!(checked >= 4);
        // Unmaps are cleaned too.
        pt.unmap(&mem, Iova(0x1f_f000), 0x20_2000).unwrap();
        pt.unmap(&mem, Iova(0x80_1234_5000), 0x1000).unwrap();
        for &a in &probes {
            assert_eq!(
                dev_walk(&mem, &pt, a),
                hw_walk(&mem, &pt, a),
                "{stage:?} {a:#x}"
            );
        }
        assert_eq!(dev_walk(&mem, &pt, 0x20_0000), None);
        release(pt, &mem);
    }
}

/// The address of the table descriptor (reachable from the root) that points at `target`.
fn find_table_descriptor(mem: &TestMem, pt: &Aarch64PageTable, target: u64) -> Option<u64> {
    let cfg = pt.config();
    let root_entries =
        1u64 << (u32::from(cfg.input_bits) - (12 + 9 * (3 - u32::from(cfg.start_level))));
    let mut stack = vec![(cfg.ttb.0, cfg.start_level, root_entries)];
    while let Some((t, level, n)) = stack.pop() {
        if level == 3 {
            continue;
        }
        for i in 0..n {
            let d = mem.read(t + i * 8);
            if d & 3 == 3 {
                let next = d & 0x0000_ffff_ffff_f000;
                if next == target {
                    return Some(t + i * 8);
                }
                stack.push((next, level + 1, 512));
            }
        }
    }
    None
}
