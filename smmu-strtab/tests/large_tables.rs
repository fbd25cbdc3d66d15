//! 2-level tables with more than 512 L1 descriptors keep their per-L1 bookkeeping in
//! chunks allocated on demand: creating or adopting them allocates only a small
//! directory, each range's chunk comes with its first L2 table, and everything behaves as
//! for small tables (lookups, lazy adoption, scan, errors, release).

mod common;

use common::{Event, TestMem, Walk, walk};
use smmu_regs::StreamId;
use smmu_strtab::{
    AdoptPolicy, EnsureError, Ensured, LookupError, MemoryError, StreamTable, StreamTableCaps,
    TablePolicy, WriteStep,
};

fn caps(sid_bits: u8) -> StreamTableCaps {
    StreamTableCaps {
        sid_bits,
        two_level: true,
        attr_types_ovr: true,
    }
}

fn allocs(events: &[Event]) -> Vec<usize> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Alloc { len, .. } => Some(*len),
            _ => None,
        })
        .collect()
}

#[test]
fn new_large_table_allocates_record_chunks_with_their_first_l2() {
    let mem = TestMem::new(true);
    // LOG2SIZE 20, SPLIT 8: 4096 L1 descriptors, 8 chunks of 512 records.
    let mut t = StreamTable::new(&mem, caps(20), &TablePolicy::default()).unwrap();
    assert_eq!(t.geometry().num_l1(), 4096);
    // The L1 table (32 KiB) and the directory (8 × 16 bytes), not 64 KiB of records.
    assert_eq!(allocs(&mem.events()), [32768, 128]);
    let (base, cfg) = (t.strtab_base(), t.strtab_base_cfg());

    // First L2 of chunk 3 (L1 indices 1536..2048): the chunk, then the L2.
    let sid = 1600 << 8 | 0x42;
    mem.clear_events();
    assert_eq!(t.ensure_sid(StreamId(sid)), Ok(Ensured::NewL2));
    assert_eq!(allocs(&mem.events()), [8192, 16384]);
    // A second range of the same chunk: only its L2.
    mem.clear_events();
    assert_eq!(t.ensure_sid(StreamId(2047 << 8)), Ok(Ensured::NewL2));
    assert_eq!(allocs(&mem.events()), [16384]);
    assert_eq!(t.ensure_sid(StreamId(sid + 1)), Ok(Ensured::Present));

    // Lookups agree with an independent walk of what the SMMU sees.
    let mut hook = |_: WriteStep| Ok::<(), ()>(());
    let bypass = [9, 1 << 44, 0, 0, 0, 0, 0, 0];
    t.ste(StreamId(sid))
        .unwrap()
        .write(&bypass, &mut hook)
        .unwrap();
    for s in [sid, sid + 1, 2047 << 8, (2047 << 8) + 255] {
        let Walk::Ste(words) = walk(&mem, base, cfg, 20, s) else {
            panic!("{s:#x} not walkable")
        };
        assert_eq!(t.ste(StreamId(s)).unwrap().read().unwrap(), words);
    }
    assert_eq!(t.ste(StreamId(sid)).unwrap().read().unwrap(), bypass);
    // Ranges without an L2, in allocated and unallocated chunks.
    for s in [1601 << 8, 0, 4095 << 8] {
        assert_eq!(
            t.ste(StreamId(s)).map(|_| ()),
            Err(LookupError::NotPopulated { sid: StreamId(s) })
        );
        assert_eq!(walk(&mem, base, cfg, 20, s), Walk::OutOfRange);
    }
    assert_eq!(
        t.ste(StreamId(1 << 20)).map(|_| ()),
        Err(LookupError::OutOfRange {
            sid: StreamId(1 << 20),
            log2size: 20
        })
    );

    // The scan sees the two L2 tables.
    let mut n = 0;
    t.for_each_valid_ste(|s, _| {
        assert!(s.0 >> 8 == 1600 || s.0 >> 8 == 2047, "{s:?}");
        n += 1;
        Ok::<(), ()>(())
    })
    .unwrap();
    assert_eq!(n, 512);

    // A failed chunk allocation publishes nothing; a failed L2 allocation after a
    // successful chunk allocation neither.
    mem.set_alloc_budget(Some(0));
    assert_eq!(
        t.ensure_sid(StreamId(7)),
        Err(EnsureError::Alloc(MemoryError::NoMemory))
    );
    mem.set_alloc_budget(Some(1));
    assert_eq!(
        t.ensure_sid(StreamId(7)),
        Err(EnsureError::Alloc(MemoryError::NoMemory))
    );
    assert_eq!(mem.peek(t.base_pa().0), Some(0));
    mem.set_alloc_budget(None);
    assert_eq!(t.ensure_sid(StreamId(7)), Ok(Ensured::NewL2));
    assert!(t.ste(StreamId(7)).is_ok());

    drop(t);
    assert_eq!(
        mem.live(),
        (0, 0),
        "L2 tables, chunks and directory released"
    );
}

#[test]
fn large_adopted_table_maps_l2_tables_lazily_in_every_chunk() {
    let mem = TestMem::new(true);
    // A previous kernel's table: LOG2SIZE 18, SPLIT 8 (1024 L1 descriptors, 2 chunks);
    // full L2 tables at 3 and 1000, a 4-STE one (Span 3) at 700.
    let num_l1 = 1024usize;
    let l1 = mem.add_ram(num_l1 * 8, num_l1 * 8);
    let mut l2s = Vec::new();
    for (index, span) in [(3usize, 9u8), (700, 3), (1000, 9)] {
        let entries = 1u64 << (span - 1);
        let pa = mem.add_ram(64 << (span - 1), 64 << (span - 1));
        let words: Vec<u64> = (0..entries)
            .flat_map(|i| [1, 0, index as u64 * 1000 + i, 0, 0, 0, 0, 0])
            .collect();
        mem.poke_words(pa, &words);
        mem.poke(l1 + 8 * index as u64, pa | u64::from(span));
        l2s.push(pa);
    }
    let cfg = (1 << 16) | (8 << 6) | 18;
    mem.clear_events();
    let mut t = StreamTable::adopt(&mem, caps(18), l1, cfg, &AdoptPolicy::default()).unwrap();
    // The L1 is mapped; only the directory (2 × 16 bytes) is allocated.
    assert_eq!(allocs(&mem.events()), [32]);

    assert_eq!(t.ensure_sid(StreamId(3 << 8 | 9)), Ok(Ensured::AdoptedL2));
    assert_eq!(t.ensure_sid(StreamId(700 << 8 | 1)), Ok(Ensured::AdoptedL2));
    assert_eq!(t.ensure_sid(StreamId(1000 << 8)), Ok(Ensured::AdoptedL2));
    assert_eq!(
        t.ste(StreamId(3 << 8 | 255)).unwrap().read().unwrap()[2],
        3255
    );
    assert_eq!(
        t.ste(StreamId(700 << 8 | 3)).unwrap().read().unwrap()[2],
        700_003
    );
    assert_eq!(
        t.ste(StreamId(1000 << 8 | 17)).unwrap().read().unwrap()[2],
        1_000_017
    );
    // Beyond the small L2 table.
    assert_eq!(
        t.ste(StreamId(700 << 8 | 4)).map(|_| ()),
        Err(LookupError::BeyondSpan {
            sid: StreamId(700 << 8 | 4),
            span: 3
        })
    );
    assert_eq!(
        t.ensure_sid(StreamId(700 << 8 | 4)),
        Err(EnsureError::BeyondSpan {
            sid: StreamId(700 << 8 | 4),
            span: 3
        })
    );
    // The slot of a small L2 table reports the L2's address.
    assert_eq!(t.ste(StreamId(700 << 8 | 2)).unwrap().pa().0, l2s[1] + 128);
    assert_eq!(t.ste(StreamId(3 << 8 | 2)).unwrap().pa().0, l2s[0] + 128);

    let mut seen = 0;
    t.for_each_valid_ste(|_, _| {
        seen += 1;
        Ok::<(), ()>(())
    })
    .unwrap();
    assert_eq!(seen, 256 + 4 + 256);
    drop(t);
    assert_eq!(mem.live(), (0, 0));
}
