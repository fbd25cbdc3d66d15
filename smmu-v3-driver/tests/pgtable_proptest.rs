//! Random map / unmap sequences against a reference model (a `BTreeMap` of pages plus the
//! set of 2 MiB regions mapped as blocks), for both stages and several input sizes. After
//! every step each page of the window is translated by the table and, for the pages the
//! step touched, by the independent walker of `common_mem`.

mod common_mem;

use std::collections::{BTreeMap, BTreeSet};

use common_mem::{TestMem, WalkRegs, walk};
use iommu_core::Prot;
use proptest::prelude::*;
use smmu_regs::{AddressSize, Iova, PhysAddr};
use smmu_strtab::Coherency;
use smmu_v3_driver::pgtable::{Aarch64PageTable, PageTableError, PageTableParams, Stage};

/// The window: 1024 pages from 1 GiB − 2 MiB, so it spans two level-1 entries and holds
/// two 2 MiB block regions.
const WINDOW: u64 = 0x3fe0_0000;
const PAGES: u64 = 1024;
const REGION_PAGES: u64 = 512;
const OPS: usize = if cfg!(miri) { 6 } else { 24 };

#[derive(Debug, Clone)]
enum Op {
    /// Map `pages` pages at window page `first` to `pa`.
    Map { first: u64, pages: u64, pa: u64 },
    /// Unmap `pages` pages at window page `first`.
    Unmap { first: u64, pages: u64 },
}

fn op() -> impl Strategy<Value = Op> {
    let pa_page = 0x10_0000u64..0x10_1000;
    prop_oneof![
        // Small maps anywhere.
        (0..PAGES, 1u64..8, pa_page.clone()).prop_map(|(f, n, p)| Op::Map {
            first: f,
            pages: n.min(PAGES - f),
            pa: p << 12,
        }),
        // Whole-region maps, PA 2 MiB aligned or not (block or pages).
        (0..2u64, any::<bool>(), pa_page.clone()).prop_map(|(r, aligned, p)| Op::Map {
            first: r * REGION_PAGES,
            pages: REGION_PAGES,
            pa: if aligned {
                (p << 21) & 0xff_ffe0_0000
            } else {
                p << 12
            },
        }),
        // Straddling maps that may contain one block.
        (400u64..520, 100u64..700, pa_page).prop_map(|(f, n, p)| Op::Map {
            first: f,
            pages: n.min(PAGES - f),
            pa: (p << 21) & 0xff_ffe0_0000 | ((f % REGION_PAGES) << 12),
        }),
        (0..PAGES, 1u64..600).prop_map(|(f, n)| Op::Unmap {
            first: f,
            pages: n.min(PAGES - f)
        }),
    ]
}

#[derive(Default)]
struct Model {
    pages: BTreeMap<u64, u64>,
    blocks: BTreeSet<u64>,
}

impl Model {
    fn map(&mut self, first: u64, pages: u64, pa: u64) -> Result<(), PageTableError> {
        if let Some((&p, _)) = self.pages.range(first..first + pages).next() {
            return Err(PageTableError::AlreadyMapped {
                iova: Iova(WINDOW + p * 4096),
            });
        }
        for i in 0..pages {
            self.pages.insert(first + i, pa + i * 4096);
        }
        for r in 0..PAGES / REGION_PAGES {
            let (start, end) = (r * REGION_PAGES, (r + 1) * REGION_PAGES);
            if first <= start
                && end <= first + pages
                && (pa + (start - first) * 4096).is_multiple_of(2 << 20)
            {
                self.blocks.insert(r);
            }
        }
        Ok(())
    }

    fn unmap(&mut self, first: u64, pages: u64) -> Result<u64, PageTableError> {
        let end = first + pages;
        for &r in &self.blocks {
            let (bs, be) = (r * REGION_PAGES, (r + 1) * REGION_PAGES);
            if first < be && bs < end && !(first <= bs && be <= end) {
                return Err(PageTableError::PartialBlock {
                    iova: Iova(WINDOW + bs * 4096),
                });
            }
        }
        self.blocks
            .retain(|&r| !(first <= r * REGION_PAGES && (r + 1) * REGION_PAGES <= end));
        let gone: Vec<u64> = self.pages.range(first..end).map(|(&p, _)| p).collect();
        for p in &gone {
            self.pages.remove(p);
        }
        Ok(gone.len() as u64 * 4096)
    }
}

fn run(stage: Stage, ias: u8, ops: &[Op]) -> Result<(), TestCaseError> {
    let mem = TestMem::new(512 << 10);
    let mut pt = Aarch64PageTable::new(
        &mem,
        PageTableParams::new(stage, ias, AddressSize::Bits44, Coherency::Coherent),
    )
    .unwrap();
    let cfg = pt.config();
    let regs = WalkRegs {
        ttb: cfg.ttb.0,
        tsz: u32::from(cfg.tsz()),
        s2sl0: cfg.s2sl0().map(u32::from),
    };
    let prot = Prot::READ | Prot::WRITE | Prot::CACHE;
    let mut model = Model::default();
    for op in ops {
        let (lo, hi) = match *op {
            Op::Map { first, pages, pa } => {
                let got = pt.map(
                    &mem,
                    Iova(WINDOW + first * 4096),
                    PhysAddr(pa),
                    pages * 4096,
                    prot,
                );
                prop_assert_eq!(got, model.map(first, pages, pa), "{:?}", op);
                (first, first + pages)
            }
            Op::Unmap { first, pages } => {
                let got = pt.unmap(&mem, Iova(WINDOW + first * 4096), pages * 4096);
                prop_assert_eq!(got, model.unmap(first, pages), "{:?}", op);
                // SAFETY: no SMMU walks the test tables.
                unsafe { pt.reclaim(&mem) };
                (first, first + pages)
            }
        };
        // Under Miri, every 8th page and the pages the step touched.
        for p in (0..PAGES).filter(|p| !cfg!(miri) || p % 8 == 0 || (lo..hi).contains(p)) {
            let iova = WINDOW + p * 4096 + 0x18;
            let expect = model.pages.get(&p).map(|pa| PhysAddr(pa + 0x18));
            prop_assert_eq!(
                pt.iova_to_phys(&mem, Iova(iova)),
                expect,
                "page {} after {:?}",
                p,
                op
            );
            if (lo..hi).contains(&p) || p % 97 == 0 {
                let t = walk(|a| mem.read(a), regs, iova);
                prop_assert_eq!(t.map(|t| PhysAddr(t.pa)), expect, "walker, page {}", p);
                if let Some(t) = t {
                    let level = if model.blocks.contains(&(p / REGION_PAGES)) {
                        2
                    } else {
                        3
                    };
                    prop_assert_eq!(t.level, level, "page {}", p);
                }
            }
        }
    }
    // Unmapping everything frees every table but the start table.
    let left = model.pages.len() as u64 * 4096;
    prop_assert_eq!(pt.unmap(&mem, Iova(WINDOW), PAGES * 4096), Ok(left));
    // SAFETY: no SMMU walks the test tables.
    unsafe { pt.reclaim(&mem) };
    prop_assert_eq!(mem.live(), 1);
    // SAFETY: as above.
    unsafe { pt.release(&mem) };
    prop_assert_eq!(mem.live(), 0);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: if cfg!(miri) { 4 } else { 128 },
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn random_map_unmap_agrees_with_model(
        stage2 in any::<bool>(),
        ias in prop::sample::select(vec![31u8, 39, 40, 48]),
        ops in prop::collection::vec(op(), 1..OPS),
    ) {
        let stage = if stage2 { Stage::Stage2 } else { Stage::Stage1 };
        run(stage, ias, &ops)?;
    }
}
