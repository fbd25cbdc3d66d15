//! New tables: allocation, on-demand L2 tables, publication order, coherency, errors and
//! release.

mod common;

use common::{Event, TestMem, Walk, walk};
use smmu_regs::{PhysAddr, StreamId};
use smmu_strtab::{
    Coherency, DefaultSte, DmaRegion, EnsureError, Ensured, FormatPolicy, GeometryError,
    LookupError, MemoryError, StreamTable, StreamTableCaps, TableError, TableMemory, TablePolicy,
};

fn caps(sid_bits: u8) -> StreamTableCaps {
    StreamTableCaps {
        sid_bits,
        two_level: true,
        attr_types_ovr: false,
    }
}

#[test]
fn two_level_on_demand_publication_order() {
    for coherent in [true, false] {
        let mem = TestMem::new(coherent);
        let policy = TablePolicy {
            coherency: if coherent {
                Coherency::Coherent
            } else {
                Coherency::NonCoherent
            },
            default_ste: DefaultSte::Bypass,
            ..TablePolicy::default()
        };
        let mut t = StreamTable::new(&mem, caps(16), &policy).unwrap();
        let l1 = t.base_pa().0;
        assert_eq!(t.strtab_base(), l1 | (1 << 62));
        assert_eq!(t.strtab_base_cfg(), (1 << 16) | (8 << 6) | 16);
        // Without ATTR_TYPES_OVR the bypass STE has SHCFG = 0.
        assert_eq!(t.default_ste(), [9, 0, 0, 0, 0, 0, 0, 0]);
        let (base, cfg) = (t.strtab_base(), t.strtab_base_cfg());
        assert_eq!(walk(&mem, base, cfg, 16, 0x4321), Walk::OutOfRange);
        mem.clear_events();
        assert_eq!(t.ensure_sid(StreamId(0x4321)), Ok(Ensured::NewL2));
        let ev = mem.events();
        let Event::Alloc {
            pa: l2,
            len: 16384,
            align: 16384,
        } = ev[0]
        else {
            panic!("{ev:?}")
        };
        if coherent {
            assert_eq!(ev.len(), 1, "{ev:?}");
        } else {
            // The L2 is cleaned before the descriptor is stored, the descriptor after.
            assert_eq!(
                ev[1..],
                [
                    Event::Clean { pa: l2, len: 16384 },
                    Event::Clean {
                        pa: l1 + 0x43 * 8,
                        len: 8
                    }
                ]
            );
        }
        assert_eq!(mem.peek(l1 + 0x43 * 8), Some(l2 | 9));
        assert_eq!(
            walk(&mem, base, cfg, 16, 0x4321),
            Walk::Ste([9, 0, 0, 0, 0, 0, 0, 0])
        );
        assert_eq!(t.ensure_sid(StreamId(0x43ff)), Ok(Ensured::Present));
        assert_eq!(
            t.ensure_sid(StreamId(0x1_0000)),
            Err(EnsureError::OutOfRange {
                sid: StreamId(0x1_0000),
                log2size: 16
            })
        );
        assert_eq!(
            t.ste(StreamId(0x4400)).map(|_| ()),
            Err(LookupError::NotPopulated {
                sid: StreamId(0x4400)
            })
        );
        drop(t);
        assert_eq!(mem.live(), (0, 0));
    }
}

#[test]
fn linear_table_is_initialised_and_cleaned() {
    let mem = TestMem::new(false);
    let policy = TablePolicy {
        coherency: Coherency::NonCoherent,
        ..TablePolicy::default()
    };
    let t = StreamTable::new(&mem, caps(6), &policy).unwrap();
    assert_eq!(t.geometry().split(), None, "SIDSIZE ≤ SPLIT: linear");
    let pa = t.base_pa().0;
    assert_eq!(mem.events()[1..], [Event::Clean { pa, len: 64 * 64 }]);
    for sid in 0..64 {
        assert_eq!(
            walk(&mem, t.strtab_base(), t.strtab_base_cfg(), 6, sid),
            Walk::Ste([1, 0, 0, 0, 0, 0, 0, 0])
        );
    }
}

#[test]
fn allocation_failures_are_errors_and_leak_nothing() {
    let mem = TestMem::new(true);
    mem.set_alloc_budget(Some(0));
    let r = StreamTable::new(&mem, caps(16), &TablePolicy::default());
    assert_eq!(r.map(|_| ()), Err(TableError::Alloc(MemoryError::NoMemory)));
    // L1 succeeds, the slot array fails.
    mem.set_alloc_budget(Some(1));
    let r = StreamTable::new(&mem, caps(16), &TablePolicy::default());
    assert_eq!(r.map(|_| ()), Err(TableError::Alloc(MemoryError::NoMemory)));
    assert_eq!(mem.live(), (0, 0));
    mem.set_alloc_budget(None);
    let mut t = StreamTable::new(&mem, caps(16), &TablePolicy::default()).unwrap();
    mem.set_alloc_budget(Some(0));
    assert_eq!(
        t.ensure_sid(StreamId(7)),
        Err(EnsureError::Alloc(MemoryError::NoMemory))
    );
    assert_eq!(mem.peek(t.base_pa().0), Some(0));
    let r = StreamTable::new(&mem, caps(40), &TablePolicy::default());
    assert_eq!(
        r.map(|_| ()),
        Err(TableError::Geometry(GeometryError::InvalidSidBits {
            sid_bits: 40
        }))
    );
    let p = TablePolicy {
        format: FormatPolicy::TwoLevel,
        ..TablePolicy::default()
    };
    let r = StreamTable::new(
        &mem,
        StreamTableCaps {
            two_level: false,
            ..caps(16)
        },
        &p,
    );
    assert_eq!(
        r.map(|_| ()),
        Err(TableError::Geometry(GeometryError::TwoLevelUnsupported))
    );
}

/// A memory that ignores the requested alignment beyond 64 bytes (a broken HAL).
struct Misaligning<'a>(&'a TestMem);

// SAFETY: forwards to `TestMem`, whose regions satisfy the contract except for the PA
// alignment, which the crate must detect (that is what is tested).
unsafe impl TableMemory for Misaligning<'_> {
    fn alloc_zeroed(&self, len: usize, align: usize) -> Result<DmaRegion, MemoryError> {
        // Skew the next allocation by 64 bytes.
        let _ = self.0.add_ram(64, 64);
        self.0.alloc_zeroed(len, align.min(64))
    }
    unsafe fn free(&self, region: DmaRegion) {
        // SAFETY: forwarded.
        unsafe { self.0.free(region) }
    }
    fn map(&self, pa: PhysAddr, len: usize) -> Result<DmaRegion, MemoryError> {
        self.0.map(pa, len)
    }
    unsafe fn unmap(&self, region: DmaRegion) {
        // SAFETY: forwarded.
        unsafe { self.0.unmap(region) }
    }
    fn clean(&self, region: &DmaRegion, offset: usize, len: usize) {
        self.0.clean(region, offset, len);
    }
    fn invalidate(&self, region: &DmaRegion, offset: usize, len: usize) {
        self.0.invalidate(region, offset, len);
    }
}

#[test]
fn misaligned_allocations_are_rejected() {
    let mem = TestMem::new(true);
    let bad = Misaligning(&mem);
    let p = TablePolicy {
        format: FormatPolicy::Linear,
        ..TablePolicy::default()
    };
    let r = StreamTable::new(&bad, caps(8), &p);
    assert_eq!(
        r.map(|_| ()),
        Err(TableError::Alloc(MemoryError::BadRegion))
    );
    assert_eq!(mem.live(), (0, 0), "the bad region was given back");
}
